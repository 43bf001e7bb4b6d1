"""fetch: download the dataset's count files into the raw data folder, checksum-verified."""

from __future__ import annotations

import logging
from pathlib import Path

from mprabench.config import load_params
from mprabench.files import require_writable
from mprabench.design import fetch_design
from mprabench.sources.geo import fetch_counts_files
from mprabench.stages._cli import run, stage_parser

log = logging.getLogger("mprabench.fetch")


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__)
    parser.add_argument("--out", type=Path, required=True, help="folder for the raw count files")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    require_writable(args.out)
    for path in fetch_counts_files(params.dataset, args.out):
        log.info("fetched %s", path)
    design = fetch_design(params.dataset, args.out)
    if design is not None:
        log.info("fetched the library design into %s", design)


if __name__ == "__main__":
    run(main)
