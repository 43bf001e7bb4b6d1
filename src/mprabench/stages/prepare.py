"""prepare: read the dataset (its reader), compute activity, build each row's model input, write QC."""

from __future__ import annotations

import logging
from pathlib import Path

from mprabench.config import load_params
from mprabench.experiments import build_experiment_inputs, motif_mismatch_warning, qc_details, qc_metrics
from mprabench.fasta import write_fasta
from mprabench.files import require_writable, write_json_atomic, write_parquet_atomic
from mprabench.genome import ensure_cache_file
from mprabench.readers.registry import layout_of, read_dataset
from mprabench.sequences import BuiltInputs
from mprabench.stages._cli import run, stage_parser

log = logging.getLogger("mprabench.prepare")


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__)
    parser.add_argument("--raw", type=Path, required=True, help="folder with the fetched dataset files")
    parser.add_argument("--genome-cache", type=Path, required=True, help="regions FASTA of UCSC windows")
    parser.add_argument("--rows", type=Path, required=True, help="benchmark rows (Parquet)")
    parser.add_argument("--inputs", type=Path, required=True, help="distinct model inputs (FASTA)")
    parser.add_argument("--qc", type=Path, required=True, help="QC metrics (JSON, a DVC metric: small)")
    parser.add_argument("--qc-details", type=Path, required=True, help="everything else prepare knows (JSON)")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    require_writable(args.rows, args.inputs, args.qc, args.qc_details, args.genome_cache)

    prepared = read_dataset(params.dataset, args.raw)  # the reader gets its own config section only
    ensure_cache_file(args.genome_cache)
    built = build_experiment_inputs(prepared.oligos, params, args.genome_cache, args.raw,
                                    layout_of(params.dataset).measured_inserts)
    _log_warnings(built)

    # computed before any output is replaced
    qc, details = qc_metrics(prepared.rows_in, prepared, built), qc_details(prepared, built)
    write_parquet_atomic(args.rows, built.rows)
    write_fasta(args.inputs, built.inputs)
    write_json_atomic(args.qc_details, details)
    write_json_atomic(args.qc, qc)


def _log_warnings(built: BuiltInputs) -> None:
    warning = motif_mismatch_warning(built)
    if warning:
        log.warning(warning)
    if built.elements_without_target:
        log.warning("every oligo of %s is a zero-RNA dropout: no element target, left out of the rows",
                    ", ".join(built.elements_without_target))


if __name__ == "__main__":
    run(main)
