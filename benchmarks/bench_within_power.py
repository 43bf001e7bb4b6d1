"""Power of the within-element pooled test on the real GSE84888 V3 structure: the t-test of per-element
Fisher z (the headline's, chosen by the calibration family) beside the random-effects pooling it replaced.

Features with a true within-element correlation r in every element (homogeneous): x_j = u_e + b d_j + eps_j,
with b chosen so that corr(x, d) = r over the element's inputs (d_j: the input's measured deviation from its
element mean). Prints the rejection rate at alpha of each pooling per r, with Monte-Carlo SE; r = 0 is the
null (type I). No genome or predictions are needed.
Run: .venv/bin/python -m benchmarks.bench_within_power [--replicates 1000] [--counts DIR]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.bench_calibrate import real_structure_rows
from benchmarks.common import CONF, REPO, report
from mprabench.config import load_params
from mprabench.schema import headline_rows
from mprabench.stats.calibration import design_structure, pooled_within_p
from mprabench.stats.rng import derive_rng
from mprabench.stats.within_element import min_within_inputs
from tests.support.params import write_params

EFFECTS = (0.0, 0.02, 0.05, 0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", type=Path, default=REPO.parent / "shared" / "data" / "GSE84888")
    parser.add_argument("--replicates", type=int, default=1000)
    args = parser.parse_args()
    if not args.counts.is_dir():
        raise SystemExit(f"real counts not found at {args.counts}: nothing measured (pass --counts DIR)")
    with tempfile.TemporaryDirectory() as scratch:
        path = write_params(Path(scratch) / "v3.yaml", CONF, ["experiment=v3"])
        config = load_params(path).evaluate
        rows = headline_rows(real_structure_rows(args.counts, path, per_oligo_inputs=True))
    structure = design_structure(rows, config.target)
    used = structure.inputs_per_element >= min_within_inputs(config.min_unique_inputs)
    per_element = structure.inputs_per_element[used]
    deviation = structure.input_target - structure.element_target[structure.input_element]
    # unit within-element spread of d per element, so one slope gives the same r in every element
    spread = np.sqrt(np.bincount(structure.input_element, weights=deviation**2) / structure.inputs_per_element)
    d = deviation / spread[structure.input_element]
    lines = []
    for r in EFFECTS:
        slope = r / np.sqrt(1 - r * r)  # corr(b d + eps, d) = r with var(d) = var(eps) = 1
        rng = derive_rng(config.seed, f"within_power|{r}")
        hits = {"t_test": [], "random_effects": []}
        for start in range(0, args.replicates, 250):
            n = min(250, args.replicates - start)
            features = (rng.standard_normal((n, structure.n_elements))[:, structure.input_element]
                        + slope * d + rng.standard_normal((n, structure.n_inputs)))
            for pooling in hits:
                p, _ = pooled_within_p(structure, features, used, per_element, pooling=pooling)
                hits[pooling].append(p <= config.alpha)
        for pooling, values in hits.items():
            rate = float(np.mean(np.concatenate(values)))
            mcse = np.sqrt(rate * (1 - rate) / args.replicates)
            label = "type I" if r == 0 else "power"
            chosen = "headline" if pooling == "t_test" else "replaced"
            lines.append([f"{r:g}", pooling, chosen, label, f"{rate:.3f}", f"{mcse:.3f}"])
    report(f"within-element pooled test on the real V3 structure ({structure.n_inputs:,} inputs, "
           f"{int(used.sum())} elements pooled; alpha {config.alpha}; {args.replicates} replicates per r)",
           ["r", "pooling", "role", "measure", "rate", "MC SE"], lines)


if __name__ == "__main__":
    main()
