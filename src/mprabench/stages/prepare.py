"""prepare: parse names, compute activity, build each row's model input, write QC metrics."""

from __future__ import annotations

from pathlib import Path

from mprabench.activity import add_activity
from mprabench.config import load_params
from mprabench.counts import read_library
from mprabench.fasta import write_fasta
from mprabench.files import require_writable, write_json_atomic, write_parquet_atomic
from mprabench.genome import ensure_cache_file
from mprabench.experiments import build_experiment_inputs, qc_metrics
from mprabench.stages._cli import run, stage_parser


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__)
    parser.add_argument("--raw", type=Path, required=True, help="folder with the fetched count files")
    parser.add_argument("--genome-cache", type=Path, required=True, help="regions FASTA of UCSC windows")
    parser.add_argument("--rows", type=Path, required=True, help="benchmark rows (Parquet)")
    parser.add_argument("--inputs", type=Path, required=True, help="distinct model inputs (FASTA)")
    parser.add_argument("--qc", type=Path, required=True, help="QC metrics (JSON)")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    require_writable(args.rows, args.inputs, args.qc, args.genome_cache)

    library = read_library(args.raw, params.dataset.files)
    oligos, excluded = add_activity(library, params.dataset.activity)
    ensure_cache_file(args.genome_cache)
    built = build_experiment_inputs(oligos, params, args.genome_cache, args.raw)

    qc = qc_metrics(library, oligos, excluded, built)  # computed before any output is replaced
    write_parquet_atomic(args.rows, built.rows)
    write_fasta(args.inputs, built.inputs)
    write_json_atomic(args.qc, qc)


if __name__ == "__main__":
    run(main)
