"""UCSC windows through the real client against a local UCSC-shaped server, and the regions cache."""

from __future__ import annotations

import re

import pytest

from mprabench.config import GenomeConfig, HttpConfig
from mprabench.errors import DownloadError
from mprabench.fasta import read_fasta
from mprabench.genome import GenomicWindow, WindowError, read_windows
from mprabench.sources.ucsc import UcscClient
from tests.support.http_server import LocalHttpServer
from tests.support.synthetic import SyntheticGenome
from tests.conftest import configured

GENOME = SyntheticGenome({"chr1": 30_000, "chr2": 20_000}, seed=3)
HTTP = configured(HttpConfig, "genome.http", retries=2, backoff_s=0.01, timeout_s=5)
WINDOWS = [GenomicWindow("e1", "chr1", 1_000, 3_048), GenomicWindow("e2", "chr2", 5_000, 7_048)]


def config(url: str, max_n_fraction: float = 0.5) -> GenomeConfig:
    return configured(GenomeConfig, "genome", fasta=None, ucsc_api=url, max_n_fraction=max_n_fraction,
                      http=vars(HTTP))


def test_client_reads_sequence_and_chromosome_sizes():
    with LocalHttpServer(GENOME) as server:
        client = UcscClient(server.url, "mm9", HTTP)
        assert client.chromosome_sizes() == {"chr1": 30_000, "chr2": 20_000}
        assert client.sequence("chr1", 10, 70).upper() == GENOME.sequence("chr1", 10, 70)


def test_windows_are_fetched_once_and_kept_in_the_regions_cache(tmp_path):
    cache = tmp_path / "ucsc_regions.fa"
    with LocalHttpServer(GENOME) as server:
        first = read_windows(WINDOWS, config(server.url), cache, progress=False)
        assert server.requests["/getData/sequence"] == 2
        assert server.requests["/list/chromosomes"] == 1
        second = read_windows(WINDOWS, config(server.url), cache, progress=False)
        assert server.requests["/getData/sequence"] == 2, "a rerun fetches nothing"
        assert server.requests["/list/chromosomes"] == 1
    assert first == second
    for window, sequence in first.items():
        assert sequence == GENOME.sequence(window.chrom, window.start, window.end), "upper-cased UCSC bases"
    assert set(read_fasta(cache)) == {"chr1:1000-3048", "chr2:5000-7048"}


def test_cache_serves_contained_windows_and_fetches_only_new_ones(tmp_path):
    cache = tmp_path / "ucsc_regions.fa"
    with LocalHttpServer(GENOME) as server:
        read_windows(WINDOWS[:1], config(server.url), cache, progress=False)
        inner = GenomicWindow("e1", "chr1", 1_500, 2_500)
        read_windows([inner, WINDOWS[1]], config(server.url), cache, progress=False)
        assert server.requests["/getData/sequence"] == 2
    assert set(read_fasta(cache)) == {"chr1:1000-3048", "chr2:5000-7048"}


@pytest.mark.parametrize(
    ("window", "problem"),
    [
        (GenomicWindow("e9", "chr2", 19_000, 21_048), "runs past the end of chr2 (length 20000)"),
        (GenomicWindow("e9", "chrZ", 0, 2_048), "chromosome chrZ is not in UCSC mm9"),
    ],
)
def test_bad_windows_fail_naming_the_element_before_fetching(tmp_path, window, problem):
    with LocalHttpServer(GENOME) as server:
        with pytest.raises(WindowError, match=f"element e9: window .*{re.escape(problem)}"):
            read_windows([WINDOWS[0], window], config(server.url), tmp_path / "cache.fa", progress=False)
        assert server.requests["/getData/sequence"] == 0
    assert not (tmp_path / "cache.fa").exists()


def test_transient_failures_are_retried(tmp_path):
    with LocalHttpServer(GENOME) as server:
        server.fail("/getData/sequence", statuses=[502], truncations=1)
        sequences = read_windows(WINDOWS[:1], config(server.url), tmp_path / "cache.fa", progress=False)
        assert server.requests["/getData/sequence"] == 3
    assert sequences[WINDOWS[0]] == GENOME.sequence("chr1", 1_000, 3_048)


def test_ucsc_error_message_is_passed_on():
    with LocalHttpServer(GENOME, assembly="mm9") as server:
        client = UcscClient(server.url, "mm10", HTTP)
        with pytest.raises(DownloadError, match="HTTP 400: can not find genome 'mm10'"):
            client.sequence("chr1", 0, 10)


def test_mostly_n_window_from_ucsc_is_an_error(tmp_path):
    genome = SyntheticGenome({"chr1": 30_000}, n_runs=[("chr1", 0, 2_900)])
    with LocalHttpServer(genome) as server:
        with pytest.raises(WindowError, match="element e1: window chr1:1000-3048: is 93% N"):
            read_windows(WINDOWS[:1], config(server.url), tmp_path / "cache.fa", progress=False)
