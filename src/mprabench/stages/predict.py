"""predict: the features of every distinct model input, written to features.parquet.

Model answers come from the prediction store (outside DVC's outputs) or are requested once."""

from __future__ import annotations

from pathlib import Path

from mprabench.config import load_params
from mprabench.files import require_writable, write_json_atomic, write_parquet_atomic
from mprabench.predictors.base import PredictionInterrupted, Predictor
from mprabench.predictors.biosample import BiosampleDefaults
from mprabench.predictors.resolve import BuildContext, configured_predictor
from mprabench.predictors.runner import PredictionsFailed, read_model_inputs, run_predictor
from mprabench.predictors.store import resolve_store_root
from mprabench.schema import INPUT_SHA256, ROW_ID, read_rows
from mprabench.sources.locations import find_dotenv
from mprabench.stages._cli import run, stage_parser


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__)
    parser.add_argument("--inputs", type=Path, required=True, help="distinct model inputs (FASTA)")
    parser.add_argument("--rows", type=Path, required=True, help="benchmark rows (for trained baselines)")
    parser.add_argument("--store", type=Path, required=True,
                        help="default prediction store folder (relative: to the main git worktree); "
                             "predictor.store or $MPRABENCH_PREDICTION_STORE override it")
    parser.add_argument("--features", type=Path, required=True, help="features of this run's inputs (Parquet)")
    parser.add_argument("--training", type=Path, default=None,
                        help="fit statistics of a trained predictor per feature (JSON; {} when untrained)")
    parser.add_argument("--metrics", type=Path, required=True, help="prediction metrics (JSON, a DVC metric)")
    parser.add_argument("--provenance", type=Path, default=None,
                        help="where the predictions came from: source, model, biosamples, tracks (JSON)")
    parser.add_argument("--dotenv", type=Path, default=None, help="optional .env holding the API key")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    configured = configured_predictor(params, args.params)
    require_writable(*filter(None, (args.features, args.metrics, args.training, args.provenance)))
    store_root = resolve_store_root(configured.configured_store(), args.store)

    dotenv = find_dotenv(args.dotenv)  # relative: also from --temp/--queue copies and linked worktrees
    # built (and a local checkpoint checked) before any input is read
    predictor = configured.build(BuildContext(rows=args.rows, dotenv=dotenv, progress=not args.no_progress,
                                              store_root=store_root, biosample=BiosampleDefaults.of(params)))
    inputs = read_model_inputs(args.inputs)
    try:
        result = run_predictor(predictor, configured.name, inputs, store_root)
    except KeyboardInterrupt:  # outside the request loop (connecting, computing features): nothing to lose
        raise PredictionInterrupted("interrupted (Ctrl-C); every answer received is stored, rerun to resume") from None
    write_json_atomic(args.metrics, result.metrics())
    if args.provenance is not None:
        write_json_atomic(args.provenance, result.provenance)
    if result.report.failures:
        rows = read_rows(args.rows, [ROW_ID, INPUT_SHA256])
        by_input = rows.groupby(INPUT_SHA256)[ROW_ID].agg(list).to_dict()
        raise PredictionsFailed(result.report.failures, by_input, total=len(inputs), store=result.store_directory)
    write_parquet_atomic(args.features, result.features.reset_index())
    if args.training is not None:
        trained = predictor.training_statistics(inputs) if isinstance(predictor, Predictor) else {}
        write_json_atomic(args.training, {"features": trained})


if __name__ == "__main__":
    run(main)
