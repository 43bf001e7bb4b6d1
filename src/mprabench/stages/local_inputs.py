"""local_inputs: fingerprint the local files params.yaml names (run every time; see mprabench.local_inputs)."""

from __future__ import annotations

from pathlib import Path

from mprabench.config import load_params
from mprabench.files import write_json_atomic
from mprabench.local_inputs import (
    counts_fingerprint,
    design_fingerprint,
    genome_fingerprint,
    predictions_fingerprint,
)
from mprabench.predictors.resolve import configured_predictor
from mprabench.stages._cli import run, stage_parser


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__)
    parser.add_argument("--counts", type=Path, required=True, help="fingerprint of the local counts files (JSON)")
    parser.add_argument("--design", type=Path, required=True, help="fingerprint of a local design file (JSON)")
    parser.add_argument("--genome", type=Path, required=True, help="fingerprint of a local genome FASTA (JSON)")
    parser.add_argument("--predictions", type=Path, required=True, help="fingerprint of a predictions file (JSON)")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    predictor = configured_predictor(params, args.params)  # checks the section before any stage runs
    write_json_atomic(args.counts, counts_fingerprint(params.dataset))
    write_json_atomic(args.design, design_fingerprint(params.dataset))
    write_json_atomic(args.genome, genome_fingerprint(params.genome))
    write_json_atomic(args.predictions,
                      predictions_fingerprint(predictor.local_file(), predictor.local_file_by_size_and_mtime()))


if __name__ == "__main__":
    run(main)
