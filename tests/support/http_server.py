"""A real HTTP server on 127.0.0.1 shaped like GEO's file folders and UCSC's REST API.

Tests start it themselves and point the pipeline's real download code at it. Faults
are scripted per path: a number of 5xx answers, bodies that break off before
Content-Length, or a 404.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from tests.support.synthetic import SyntheticGenome


@dataclass
class PathFaults:
    """What the next requests to one path get before a normal answer."""

    statuses: list[int]  # one status per failing request, in order (e.g. [503, 503])
    truncations: int = 0  # then this many answers that stop halfway through the body
    short_length: bool = False  # every answer announces half its length (Content-Length) and sends it all
    no_length: bool = False  # every answer has no Content-Length: the body ends when the connection closes


class LocalHttpServer:
    """Serves files (GEO-shaped) and a UCSC-shaped API from one synthetic genome."""

    def __init__(self, genome: SyntheticGenome | None = None, assembly: str = "mm9"):
        self.files: dict[str, bytes] = {}
        self.genome = genome
        self.assembly = assembly
        self.faults: dict[str, PathFaults] = {}
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> LocalHttpServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add_file(self, path: str, content: bytes) -> None:
        self.files[path] = content

    def fail(self, path: str, statuses: list[int] | None = None, truncations: int = 0,
             short_length: bool = False, no_length: bool = False) -> None:
        self.faults[path] = PathFaults(list(statuses or []), truncations, short_length, no_length)

    def next_fault(self, path: str) -> tuple[str, int] | None:
        """('status', code) or ('truncate', 0) for this request, or None to answer normally."""
        with self._lock:
            self.requests[path] += 1
            faults = self.faults.get(path)
            if faults and faults.statuses:
                return "status", faults.statuses.pop(0)
            if faults and faults.truncations:
                faults.truncations -= 1
                return "truncate", 0
            if faults and faults.short_length:
                return "short_length", 0
            if faults and faults.no_length:
                return "no_length", 0
            return None

    def ucsc_answer(self, path: str, query: dict[str, str]) -> tuple[int, dict]:
        if self.genome is None:
            return 404, {"error": "no genome configured"}
        if query.get("genome") != self.assembly:
            return 400, {"error": f"can not find genome {query.get('genome')!r}"}
        if path == "/list/chromosomes":
            return 200, {"genome": self.assembly, "chromosomes": dict(self.genome.chrom_sizes)}
        chrom = query.get("chrom", "")
        if chrom not in self.genome.chrom_sizes:
            return 400, {"error": f"can not find chrom={chrom} in genome {self.assembly}"}
        start, end = int(query["start"]), int(query["end"])
        if end > self.genome.chrom_sizes[chrom]:
            return 400, {"error": f"end coordinate {end} past chromSize for {chrom}"}
        dna = self.genome.sequence(chrom, start, end).lower()  # UCSC soft-masks; callers upper-case
        return 200, {"genome": self.assembly, "chrom": chrom, "start": start, "end": end, "dna": dna}


def _ucsc_query(query: str) -> dict[str, str]:
    """UCSC separates parameters with ';' (and accepts '&')."""
    pairs = [p.split("=", 1) for p in query.replace("&", ";").split(";") if "=" in p]
    return {k: v for k, v in pairs}


def _handler_for(server: LocalHttpServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            parts = urlsplit(self.path)
            fault = server.next_fault(parts.path)
            if fault and fault[0] == "status":
                return self._send(fault[1], b'{"error": "scripted failure"}')
            if parts.path in ("/getData/sequence", "/list/chromosomes"):
                status, body = server.ucsc_answer(parts.path, _ucsc_query(parts.query))
                content = json.dumps(body).encode()
            elif parts.path in server.files:
                status, content = 200, server.files[parts.path]
            else:
                status, content = 404, b"not found"
            kind = fault[0] if fault is not None else None
            self._send(status, content, truncate=kind == "truncate", short_length=kind == "short_length",
                       no_length=kind == "no_length")

        def _send(self, status: int, content: bytes, truncate: bool = False, short_length: bool = False,
                  no_length: bool = False) -> None:
            self.send_response(status)
            if not no_length:
                self.send_header("Content-Length", str(len(content) // 2 if short_length else len(content)))
            self.end_headers()
            self.wfile.write(content[: len(content) // 2] if truncate else content)
            if truncate or short_length or no_length:
                self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep test output clean

    return Handler
