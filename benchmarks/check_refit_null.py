"""The k-mer baseline's refit-null element p under two nulls on the real GSE84888 V2 structure.

The refit null re-runs the whole out-of-fold ridge fit under element-permuted targets (predictors/kmer.py,
kmer_training_statistics) by refitting, as predict does (calibrate reports the same nulls through the
refit's linear map, stats/refit_calibration.py: this is the independent check). Features: k-mer
frequencies (predictor.k) of, per --inputs,
- random: one random 2,048-bp sequence per element, drawn anew per replicate;
- neighbours: the same, but the 3 smallest elements (the noisiest means) share one base sequence with
  10 % of positions redrawn: neighbours in k-mer space (real genomic windows can be);
- motif: the element's own 16-bp motif (V1's model input; fixed).
Targets, per replicate:
- noise_only: every row's target is noise with the real within-element SD, so an element mean is pure
  sampling noise with variance proportional to 1 / its rows (not exchangeable between elements);
- permuted_means: the real element means, permuted between elements, plus that row noise.
Prints the rejection rate at alpha with its Monte-Carlo SE (goal: alpha ± 0.015) of the refit null as
predict runs it (element means permuted on a common scale) and of the plain permutation it replaced
(--rows elements, V1: one row per element, no row SD, so both are the plain one).
Run: .venv/bin/python -m benchmarks.check_refit_null [--replicates 400] [--permutations 199] [--inputs random]
     [--rows oligos] [--counts DIR]
"""

from __future__ import annotations

import argparse
from types import SimpleNamespace
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.bench_calibrate import real_structure_rows
from benchmarks.common import CONF, REPO, report
from mprabench.config import load_params
from mprabench.predictors.kmer import assign_group_folds, kmer_frequency_matrix, kmer_training_statistics
from mprabench.schema import headline_rows
from mprabench.stats.rng import derive_rng
from tests.support.params import write_params

NULLS = ("noise_only", "permuted_means")
INPUTS = ("random", "neighbours", "motif")
N_NEIGHBOURS, REDRAWN = 3, 0.1
SEQUENCE_LENGTH = 2048


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", type=Path, default=REPO.parent / "shared" / "data" / "GSE84888")
    parser.add_argument("--replicates", type=int, default=400)
    parser.add_argument("--permutations", type=int, default=199)
    parser.add_argument("--rows", choices=("oligos", "elements"), default="oligos",
                        help="oligos: V2's rows (an element's input weighted by its oligos); elements: V1's aggregated "
                             "rows (one row per element, every element weight 1)")
    parser.add_argument("--inputs", choices=INPUTS, default="random",
                        help="random, neighbours or motif (see above)")
    args = parser.parse_args()
    if not args.counts.is_dir():
        raise SystemExit(f"real counts not found at {args.counts}: nothing measured (pass --counts DIR)")
    with tempfile.TemporaryDirectory() as scratch:
        path = write_params(Path(scratch) / "v2.yaml", CONF, ["experiment=v2", "predictor=kmer"])
        params = load_params(path)
        rows = headline_rows(real_structure_rows(args.counts, path, per_oligo_inputs=False))
    kmer, alpha = SimpleNamespace(**params.predictor), params.evaluate.alpha
    target = rows[kmer.target].to_numpy(float)
    elements, codes = np.unique(rows["element_id"].to_numpy(), return_inverse=True)
    sizes = np.bincount(codes).astype(float)
    means = np.bincount(codes, weights=target) / sizes
    row_sd = float(np.std(target - means[codes], ddof=len(elements)))
    weights = sizes if args.rows == "oligos" else np.ones_like(sizes)  # V1: one row per element
    folds, _ = assign_group_folds(elements, kmer.n_folds, kmer.seed)
    # V1's input is the element's motif centred in N: k-mers with N are skipped, so the motif's k-mers
    motif_features = kmer_frequency_matrix([motif_of(e) for e in elements.astype(str)], kmer.k)
    methods = {"scaled (predict)": row_sd if args.rows == "oligos" else None, "plain (replaced)": None}
    smallest = np.argsort(sizes, kind="stable")[:N_NEIGHBOURS]
    lines = []
    for null in NULLS:
        rng = derive_rng(kmer.seed, f"check_refit_null|{null}")
        rejected: dict[str, list[bool]] = {method: [] for method in methods}
        for _ in range(args.replicates):
            features = (motif_features if args.inputs == "motif" else
                        kmer_frequency_matrix(random_sequences(rng, len(elements), smallest if args.inputs == "neighbours"
                                                               else []), kmer.k))
            noise = rng.normal(0.0, row_sd / np.sqrt(sizes))  # the mean of each element's row noise
            element_target = noise if null == "noise_only" else rng.permutation(means) + noise
            seed = int(rng.integers(2**31))
            for method, method_row_sd in methods.items():
                statistics = kmer_training_statistics(features, element_target, weights, elements.astype(str), folds,
                                                      alpha=kmer.alpha, n_permutations=args.permutations, seed=seed,
                                                      row_sd=method_row_sd)
                if statistics["element_p"] is not None:
                    rejected[method].append(statistics["element_p"] <= alpha)
        for method, hits in rejected.items():
            rate = float(np.mean(hits))
            mcse = np.sqrt(rate * (1 - rate) / len(hits))
            lines.append([null, method, f"{rate:.3f}", f"{mcse:.3f}", len(hits), f"{alpha} ± 0.015",
                          "yes" if abs(rate - alpha) <= 0.015 else "NO"])
    report(f"k-mer refit-null element p on the real GSE84888 structure ({len(elements)} elements; rows {args.rows}; "
           f"inputs {args.inputs}; k = {kmer.k}; {args.permutations} refits per replicate)",
           ["null", "permutation", "type I", "MC SE", "replicates", "goal", "met"], lines)


def random_sequences(rng: np.random.Generator, n: int, neighbours) -> list[str]:
    """n random sequences; those indexed by ``neighbours`` share one base sequence (REDRAWN of it redrawn)."""
    base = rng.choice(list("ACGT"), SEQUENCE_LENGTH)
    sequences = [rng.choice(list("ACGT"), SEQUENCE_LENGTH) for _ in range(n)]
    for i in neighbours:
        sequence = base.copy()
        where = rng.choice(SEQUENCE_LENGTH, int(REDRAWN * SEQUENCE_LENGTH), replace=False)
        sequence[where] = rng.choice(list("ACGT"), len(where))
        sequences[i] = sequence
    return ["".join(s) for s in sequences]


def motif_of(element_id: str) -> str:
    """The element's 16-bp motif: the last field of a GSE84888 element id (e.g. ..._+_TGAAGGTCAGAGTTTA)."""
    return element_id.rsplit("_", 1)[-1]


if __name__ == "__main__":
    main()
