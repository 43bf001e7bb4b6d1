"""UCSC Genome Browser REST API client (https://genome.ucsc.edu/goldenPath/help/api.html)."""

from __future__ import annotations

from mprabench.config import HttpConfig
from mprabench.errors import DownloadError
from mprabench.sources.http import HttpClient


class UcscClient:
    """Reads chromosome sizes and sequence windows of one assembly."""

    def __init__(self, api: str, assembly: str, http: HttpConfig):
        self.api = api.rstrip("/")
        self.assembly = assembly
        self.http = HttpClient(http, progress=False)

    def chromosome_sizes(self) -> dict[str, int]:
        url = f"{self.api}/list/chromosomes?genome={self.assembly}"
        body = self.http.get_json(url, label=f"UCSC {self.assembly} chromosome list")
        sizes = body.get("chromosomes") if isinstance(body, dict) else None
        if not isinstance(sizes, dict) or not sizes:
            raise DownloadError(f"{url}: the answer has no `chromosomes` mapping; is {self.api} a UCSC API?")
        return {str(name): int(length) for name, length in sizes.items()}

    def sequence(self, chrom: str, start: int, end: int) -> str:
        """The + strand bases of [start, end) (0-based, half-open), as UCSC returns them."""
        # UCSC documents ';' as the parameter separator.
        url = f"{self.api}/getData/sequence?genome={self.assembly};chrom={chrom};start={start};end={end}"
        label = f"UCSC {self.assembly} {chrom}:{start}-{end}"
        body = self.http.get_json(url, label=label)
        dna = body.get("dna") if isinstance(body, dict) else None
        if not isinstance(dna, str):
            raise DownloadError(f"{label}: the answer from {url} has no `dna` field")
        if len(dna) != end - start:
            raise DownloadError(f"{label}: UCSC returned {len(dna)} bases for a {end - start}-bp window")
        return dna
