"""predict: features for every distinct model input, served from the prediction store or requested once."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mprabench.config import load_params
from mprabench.files import require_writable, write_json_atomic, write_parquet_atomic
from mprabench.predictors.registry import build_predictor
from mprabench.predictors.runner import PredictionsFailed, predict_with_store, read_model_inputs
from mprabench.stages._cli import run, stage_parser


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__)
    parser.add_argument("--inputs", type=Path, required=True, help="distinct model inputs (FASTA)")
    parser.add_argument("--rows", type=Path, required=True, help="benchmark rows (for trained baselines)")
    parser.add_argument("--store", type=Path, required=True, help="prediction store folder")
    parser.add_argument("--features", type=Path, required=True, help="features of this run's inputs (Parquet)")
    parser.add_argument("--training", type=Path, default=None,
                        help="fit statistics of a trained predictor per feature (JSON; {} when untrained)")
    parser.add_argument("--metrics", type=Path, required=True, help="prediction metrics (JSON)")
    parser.add_argument("--dotenv", type=Path, default=None, help="optional .env holding the API key")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    require_writable(args.features, args.metrics, args.store)

    predictor = build_predictor(params.predictor, rows=args.rows, dotenv=args.dotenv, progress=not args.no_progress)
    inputs = read_model_inputs(args.inputs)
    result = predict_with_store(predictor, inputs, args.store)
    write_json_atomic(args.metrics, result.metrics())
    if result.report.failures:
        rows = pd.read_parquet(args.rows, columns=["row_id", "input_sha256"])
        by_input = rows.groupby("input_sha256")["row_id"].agg(list).to_dict()
        raise PredictionsFailed(result.report.failures, by_input, total=len(inputs))
    write_parquet_atomic(args.features, result.features.reset_index())
    if args.training is not None:
        write_json_atomic(args.training, {"features": predictor.training_statistics(inputs)})


if __name__ == "__main__":
    run(main)
