"""fetch against a real HTTP server on 127.0.0.1: gzip, checksums, transient and permanent failures."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pytest

from mprabench.config import CountsFile, DatasetConfig, DesignGrammar
from mprabench.errors import DownloadError
from mprabench.sources.geo import fetch_counts_files
from tests.support.http_server import LocalHttpServer
from tests.conftest import REPO, configured

SUPPL = "/geo/series/GSE1nnn/GSE1/suppl"


def dataset(tiny_library, source: str, sha256: str | None = None) -> DatasetConfig:
    files = [
        CountsFile(f["name"], f["pool"], DesignGrammar(f["design_grammar"]), sha256 or f["sha256"])
        for f in tiny_library.files
    ]
    return configured(DatasetConfig, "dataset", name="tiny", source=source, remote_suffix=".gz", files=files,
                      http={"retries": 3, "backoff_s": 0.01, "timeout_s": 5, "max_bytes": 10_000_000})


def serve_gzipped(server: LocalHttpServer, tiny_library) -> dict[str, str]:
    paths = {}
    for spec in tiny_library.files:
        path = f"{SUPPL}/{spec['name']}.gz"
        server.add_file(path, gzip.compress((tiny_library.counts_dir / spec["name"]).read_bytes()))
        paths[spec["name"]] = path
    return paths


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_gzipped_files_are_downloaded_decompressed_and_verified(tiny_library, tmp_path):
    with LocalHttpServer() as server:
        serve_gzipped(server, tiny_library)
        fetched = fetch_counts_files(dataset(tiny_library, server.url + SUPPL), tmp_path / "raw", progress=False)
    for path in fetched:
        assert path.read_bytes() == (tiny_library.counts_dir / path.name).read_bytes()
    assert leftovers(tmp_path / "raw") == sorted(f["name"] for f in tiny_library.files)


def test_checksum_mismatch_stops_naming_file_and_url_and_leaves_nothing(tiny_library, tmp_path):
    with LocalHttpServer() as server:
        serve_gzipped(server, tiny_library)
        with pytest.raises(DownloadError) as raised:
            fetch_counts_files(dataset(tiny_library, server.url + SUPPL, sha256="0" * 64), tmp_path / "raw")
    message = str(raised.value)
    first = tiny_library.files[0]["name"]
    assert f"{first}: SHA-256 mismatch" in message
    assert f"{server.url}{SUPPL}/{first}.gz" in message
    assert leftovers(tmp_path / "raw") == []


def test_transient_503_is_retried_then_succeeds(tiny_library, tmp_path):
    with LocalHttpServer() as server:
        paths = serve_gzipped(server, tiny_library)
        first = paths[tiny_library.files[0]["name"]]
        server.fail(first, statuses=[503, 503])
        fetch_counts_files(dataset(tiny_library, server.url + SUPPL), tmp_path / "raw", progress=False)
        assert server.requests[first] == 3


def test_truncated_body_is_retried_and_never_left_at_the_output_path(tiny_library, tmp_path):
    with LocalHttpServer() as server:
        paths = serve_gzipped(server, tiny_library)
        first = paths[tiny_library.files[0]["name"]]
        server.fail(first, truncations=2)
        fetched = fetch_counts_files(dataset(tiny_library, server.url + SUPPL), tmp_path / "raw", progress=False)
        assert server.requests[first] == 3
    assert fetched[0].read_bytes() == (tiny_library.counts_dir / fetched[0].name).read_bytes()


def test_body_that_keeps_breaking_off_fails_without_a_partial_file(tiny_library, tmp_path):
    with LocalHttpServer() as server:
        paths = serve_gzipped(server, tiny_library)
        server.fail(paths[tiny_library.files[0]["name"]], truncations=10)
        with pytest.raises(DownloadError, match="broke off 4 times"):
            fetch_counts_files(dataset(tiny_library, server.url + SUPPL), tmp_path / "raw", progress=False)
    assert leftovers(tmp_path / "raw") == []


def test_persistent_5xx_gives_up_after_the_configured_retries(tiny_library, tmp_path):
    with LocalHttpServer() as server:
        paths = serve_gzipped(server, tiny_library)
        first = paths[tiny_library.files[0]["name"]]
        server.fail(first, statuses=[503] * 10)
        with pytest.raises(DownloadError, match="HTTP 503 after 3 retries"):
            fetch_counts_files(dataset(tiny_library, server.url + SUPPL), tmp_path / "raw", progress=False)
        assert server.requests[first] == 4
    assert leftovers(tmp_path / "raw") == []


def test_404_stops_naming_file_and_url(tiny_library, tmp_path):
    with LocalHttpServer() as server:
        with pytest.raises(DownloadError) as raised:
            fetch_counts_files(dataset(tiny_library, server.url + SUPPL), tmp_path / "raw", progress=False)
        assert sum(server.requests.values()) == 1, "a 404 is permanent: no retry"
    first = tiny_library.files[0]["name"]
    assert f"{first}: {server.url}{SUPPL}/{first}.gz does not exist (HTTP 404)" in str(raised.value)
    assert leftovers(tmp_path / "raw") == []


def test_unreachable_server_says_to_check_network_or_go_offline(tiny_library, tmp_path):
    with LocalHttpServer() as server:
        url = server.url
    with pytest.raises(DownloadError, match="could not reach .* local copy"):
        fetch_counts_files(dataset(tiny_library, url + SUPPL), tmp_path / "raw", progress=False)


@pytest.mark.parametrize("form", ["plain", "gzipped", "file_url"])
def test_local_source_plain_gzipped_or_file_url(tiny_library, tmp_path, form):
    source_dir = tmp_path / "copy"
    source_dir.mkdir()
    for spec in tiny_library.files:
        content = (tiny_library.counts_dir / spec["name"]).read_bytes()
        if form == "gzipped":
            (source_dir / f"{spec['name']}.gz").write_bytes(gzip.compress(content))
        else:
            (source_dir / spec["name"]).write_bytes(content)
    source = source_dir.as_uri() if form == "file_url" else str(source_dir)
    fetched = fetch_counts_files(dataset(tiny_library, source), tmp_path / "raw", progress=False)
    for path in fetched:
        assert path.read_bytes() == (tiny_library.counts_dir / path.name).read_bytes()


def test_local_source_missing_file_says_where_it_looked(tiny_library, tmp_path):
    with pytest.raises(DownloadError, match=r"not found in local source .*empty \(looked for"):
        (tmp_path / "empty").mkdir()
        fetch_counts_files(dataset(tiny_library, str(tmp_path / "empty")), tmp_path / "raw")


def test_a_design_given_as_a_url_is_fetched_into_the_raw_folder(tiny_library, tmp_path):
    from mprabench.design import fetch_design, local_design_path, read_design

    with LocalHttpServer() as server:
        server.add_file("/designs/library.tsv", b"name\tsequence\noligo_a\tACGT\n")
        server.fail("/designs/library.tsv", statuses=[503])
        config = dataset(tiny_library, str(tiny_library.counts_dir))
        config.design = f"{server.url}/designs/library.tsv"
        config.design_sha256 = hashlib.sha256(b"name\tsequence\noligo_a\tACGT\n").hexdigest()
        fetched = fetch_design(config, tmp_path / "raw", progress=False)
        assert server.requests["/designs/library.tsv"] == 2
    assert fetched == local_design_path(config.design, tmp_path / "raw") == tmp_path / "raw" / "design" / "library.tsv"
    assert read_design(fetched) == {"oligo_a": "ACGT"}
    config.design = str(fetched)
    assert fetch_design(config, tmp_path / "raw2") is None, "a local design is read where it is"


def test_a_published_md5_is_verified(tmp_path):
    """Deposits like Zenodo publish MD5: a wrong one stops the fetch naming both digests, a right one passes."""
    import hashlib

    from mprabench.config import SequenceTableConfig
    from mprabench.sources.geo import fetch_counts_files
    from tests.support.params import configured_section

    source = tmp_path / "deposit"
    source.mkdir()
    (source / "lib.tsv").write_text("seq_id\tseq\tmean_value\nA\tACGT\t1\n")
    right = hashlib.md5((source / "lib.tsv").read_bytes()).hexdigest()

    def spec(md5: str) -> SequenceTableConfig:
        return configured_section(SequenceTableConfig, "dataset", REPO / "conf", ["dataset=agarwal2025_hepg2_test"],
                                  source=str(source), files=[{"name": "lib.tsv", "sha256": None, "md5": md5}])

    with pytest.raises(DownloadError, match=f"MD5 mismatch.*got {right}"):
        fetch_counts_files(spec("0" * 32), tmp_path / "raw", progress=False)
    assert not (tmp_path / "raw" / "lib.tsv").exists()
    (path,) = fetch_counts_files(spec(right), tmp_path / "raw", progress=False)
    assert path.read_text().startswith("seq_id")


DESIGN = b"name\tsequence\n" + b"".join(b"oligo_%d\tACGTACGT\n" % i for i in range(200))


@pytest.mark.parametrize("algorithm", ["sha256", "md5"])
def test_a_design_whose_server_announces_a_short_length_is_refused_by_its_checksum(tiny_library, tmp_path, algorithm):
    from mprabench.design import fetch_design

    with LocalHttpServer() as server:
        server.add_file("/d.tsv", DESIGN)
        server.fail("/d.tsv", short_length=True)  # Content-Length says half: a reader trusting it keeps half
        config = dataset(tiny_library, str(tiny_library.counts_dir))
        config.design = f"{server.url}/d.tsv"
        setattr(config, f"design_{algorithm}", hashlib.new(algorithm, DESIGN).hexdigest())
        with pytest.raises(DownloadError, match=f"{algorithm} of the {len(DESIGN) // 2:,} bytes .* not "):
            fetch_design(config, tmp_path / "raw", progress=False)
        assert server.requests["/d.tsv"] == 1
    assert not (tmp_path / "raw" / "design" / "d.tsv").exists(), "nothing written"


def test_a_design_url_without_a_checksum_is_refused_when_the_params_load(tmp_path):
    from mprabench.errors import ConfigError
    from tests.conftest import write_params
    from mprabench.config import load_params

    params = write_params(tmp_path / "params.yaml", ["dataset.design=https://example.org/d.tsv"])
    with pytest.raises(ConfigError, match="dataset.design_sha256"):
        load_params(params)
    params = write_params(tmp_path / "params.yaml", ["dataset.design=https://example.org/d.tsv",
                                                     "dataset.design_md5=" + "0" * 32])
    assert load_params(params).dataset.design_md5 == "0" * 32


def test_a_download_announcing_more_than_max_bytes_is_refused_before_reading(tiny_library, tmp_path):
    from mprabench.design import fetch_design

    with LocalHttpServer() as server:
        server.add_file("/big.tsv", DESIGN)
        server.fail("/big.tsv", short_length=True)  # announces little, sends more than the limit
        config = dataset(tiny_library, str(tiny_library.counts_dir))
        config.http.max_bytes = len(DESIGN) // 2 - 1
        config.design, config.design_sha256 = f"{server.url}/big.tsv", hashlib.sha256(DESIGN).hexdigest()
        with pytest.raises(DownloadError, match="http.max_bytes"):
            fetch_design(config, tmp_path / "raw", progress=False)


def test_a_gzip_bomb_stops_at_the_decompression_limit_before_the_checksum(tiny_library, tmp_path):
    bomb = gzip.compress(b"\0" * 50_000_000, compresslevel=9)  # 50 MB from ~50 KB
    with LocalHttpServer() as server:
        for spec in tiny_library.files:
            server.add_file(f"{SUPPL}/{spec['name']}.gz", bomb)
        config = dataset(tiny_library, server.url + SUPPL)
        config.max_decompressed_bytes = 5_000_000
        with pytest.raises(DownloadError, match="max_decompressed_bytes = 5,000,000"):
            fetch_counts_files(config, tmp_path / "raw", progress=False)
    assert not any((tmp_path / "raw").iterdir()), "nothing written, not even a scratch file"
    assert len(bomb) < 100_000


def test_a_body_without_length_stops_at_max_bytes_while_streaming(tiny_library, tmp_path):
    from mprabench.design import fetch_design

    with LocalHttpServer() as server:
        server.add_file("/stream.tsv", DESIGN)
        server.fail("/stream.tsv", no_length=True)  # no Content-Length: only counting bytes can stop it
        config = dataset(tiny_library, str(tiny_library.counts_dir))
        config.http.max_bytes = len(DESIGN) // 3
        config.design, config.design_sha256 = f"{server.url}/stream.tsv", hashlib.sha256(DESIGN).hexdigest()
        with pytest.raises(DownloadError, match=r"exceeds http.max_bytes = .* stopped, nothing was written"):
            fetch_design(config, tmp_path / "raw", progress=False)
        config.http.max_bytes = len(DESIGN)
        fetched = fetch_design(config, tmp_path / "raw", progress=False)
    assert fetched.read_bytes() == DESIGN
