"""`make demo`: a real run with no API key. GSE84888 through experiments V1 and V2 with the offline
baselines, one DVC experiment (report.md and an MLflow run) per experiment and predictor.

    python -m scripts.demo --experiments v1 v2 --predictors gc kmer motif
    python -m scripts.demo --experiments v1 v2 --predictors gc --data path/to/GSE84888 --genome mm9.fa

It says first which network it uses: GEO for the counts files (none with --data) and the UCSC
API for the mm9 windows of V2 (none with --genome; V1 reads no genome). It never calls AlphaGenome.
Each run is an ordinary `dvc exp run -n demo-<experiment>-<predictor>`, so `dvc exp show`,
`dvc metrics diff` and `dvc exp apply` work on it; a demo run of the same name is replaced.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from mprabench.headline import feature_statistics, headline_feature, primary_features, withheld_reason
from mprabench.tracking import displayed_uri, tracking_uri

REPOSITORY = Path(__file__).resolve().parents[1]
RUNS_TABLE = "workflowType=machine_learning"  # MLflow 3 opens the runs table, not the GenAI view
# The README's recipe (section "Comparing results"): every predictor's headline feature in the same columns.
# The verdict's numbers: Spearman's rho with its interval and −log10 p (calibrated on every design so far);
# the Pearson r beside them is a description (its interval and p may be withheld: docs/statistics.md).
COMPARE_RECIPE = ("dvc exp show --hide-workspace --drop '.*' --keep 'Experiment' --keep 'predictor\\.name$' \\\n"
                  "  --keep 'headline\\.(feature|element_pearson_r|spearman_(rho|ci_low|ci_high|neglog10_p))$'")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiments", nargs="+", required=True, help="conf/experiment/ bundles, e.g. v1 v2")
    parser.add_argument("--predictors", nargs="+", required=True, help="offline predictors, e.g. gc kmer motif")
    parser.add_argument("--data", default="", help="a local folder with the counts files, instead of GEO")
    parser.add_argument("--genome", default="", help="a local mm9 FASTA, instead of the UCSC API")
    parser.add_argument("--prefix", default="demo", help="experiment names are <prefix>-<experiment>-<predictor>")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="one more `dvc exp run -S` override for every run (repeatable)")
    return parser.parse_args(argv)


def demo_overrides(args: argparse.Namespace) -> list[str]:
    """The `-S` overrides every demo run shares (the data and genome locations, then --set)."""
    shared = []
    if args.data:
        shared.append(f"dataset.source={Path(args.data).resolve()}")
    if args.genome:
        shared.append(f"genome.fasta={Path(args.genome).resolve()}")
    return [*shared, *args.overrides]


def composed(overrides: list[str]) -> dict[str, Any]:
    """conf/ as `dvc exp run -S ...` composes it."""
    with initialize_config_dir(str(REPOSITORY / "conf"), version_base=None):
        config = compose(config_name="config", overrides=overrides)
    OmegaConf.resolve(config)
    return OmegaConf.to_container(config)  # type: ignore[return-value]


def network_plan(config: dict[str, Any], experiments: list[str]) -> list[str]:
    """What the demo reaches over the network, in words."""
    source = str(config["dataset"]["source"])
    remote = source.startswith(("http://", "https://"))
    lines = [f"counts files: {'downloaded from ' + source if remote else 'read from ' + source} "
             f"({len(config['dataset']['files'])} files, checked against their SHA-256)"]
    needs_genome = [e for e in experiments if composed([f"experiment={e}"])["experiment"]["inputs"] != "aggregated"]
    if not needs_genome:
        lines.append("genome: not read (V1's inputs are the motif centred in N)")
    elif config["genome"]["fasta"]:
        lines.append(f"genome: read from {config['genome']['fasta']} (for {', '.join(needs_genome)})")
    else:
        lines.append(f"genome: the {config['genome']['assembly']} windows of {', '.join(needs_genome)} from the "
                     f"UCSC API at {config['genome']['ucsc_api']} (kept in data/genome/, fetched once)")
    lines.append("predictions: offline baselines only; no AlphaGenome request, no API key")
    lines.append(f"MLflow: {displayed_uri(tracking_uri(REPOSITORY, config['tracking']['local_store']))}")
    return lines


def dvc(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dvc", *args], cwd=REPOSITORY, capture_output=True, text=True)


def replace_existing(names: list[str]) -> None:
    listed = dvc("exp", "list", "--name-only")
    existing = set(listed.stdout.split()) & set(names)
    if existing:
        print(f"replacing earlier demo experiments: {', '.join(sorted(existing))}")
        dvc("exp", "remove", *sorted(existing))


def headline_lines(summary: dict[str, Any], details: dict[str, Any] | None = None) -> list[str]:
    """One line per feature of metrics/summary.json: element r, its CI and permutation p (or 'withheld' where
    this design's calibration fails them), then Spearman's rho with its interval and p (the verdict's;
    summary.json has them for the headline feature, metrics/details.json for the others);
    the predictor's headline feature (the `headline` block) is marked. The reasons follow, once each."""
    lines, reasons = [], {}
    shown = headline_feature(summary)
    for feature in primary_features(summary):
        block = feature_statistics(summary, feature, details)
        low, high = block.get("pearson_r_ci_low"), block.get("pearson_r_ci_high")
        ci_withheld, p_withheld = withheld_reason(block, "pearson_r_ci_low"), withheld_reason(block, "element_p")
        reasons |= dict.fromkeys(r for r in (ci_withheld, p_withheld) if r)
        interval = ("[CI withheld]" if ci_withheld else f"[{low:.2f}, {high:.2f}]" if low is not None and
                    high is not None else "(no CI)")
        r, p = block.get("element_pearson_r"), block.get("element_p")
        p_text = "withheld" if p_withheld else "n.e." if p is None else f"{p:.3g}"
        rho, rho_low, rho_high, rho_p = (block.get(k) for k in ("spearman_rho", "spearman_ci_low",
                                                                "spearman_ci_high", "element_spearman_p"))
        spearman = "" if rho is None else (
            f"  ρ {rho:+.3f}" + (f" [{rho_low:.2f}, {rho_high:.2f}]" if rho_low is not None and rho_high is not None
                                 else "") + (f" p {rho_p:.3g}" if rho_p is not None else ""))
        lines.append(f"    {feature:<28} element r {'n.e.' if r is None else f'{r:+.3f}'} {interval}"
                     f"  p {p_text}{spearman}" + ("  (headline)" if feature == shown else ""))
    lines += [f"    withheld: {reason}" for reason in reasons]
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    shared = demo_overrides(args)
    config = composed(shared)
    print("make demo: GSE84888 through", " and ".join(args.experiments), "with", ", ".join(args.predictors))
    for line in network_plan(config, args.experiments):
        print(f"  {line}")
    runs = [(experiment, predictor, f"{args.prefix}-{experiment}-{predictor}")
            for experiment in args.experiments for predictor in args.predictors]
    replace_existing([name for *_, name in runs])
    started = time.monotonic()
    for experiment, predictor, name in runs:
        overrides = [f"experiment={experiment}", f"predictor={predictor}", *shared]
        print(f"\n== dvc exp run -n {name} " + " ".join(f"-S {o}" for o in overrides), flush=True)
        run_started = time.monotonic()
        result = dvc("exp", "run", "-n", name, *[a for o in overrides for a in ("-S", o)])
        if result.returncode != 0:
            print(result.stdout[-4000:], result.stderr[-4000:], sep="\n")
            print(f"make demo stopped: {name} failed (its output is above; `dvc exp run` again resumes).")
            return 1
        summary = json.loads((REPOSITORY / "metrics/summary.json").read_text())
        details = json.loads((REPOSITORY / "metrics/details.json").read_text())
        print(f"   done in {time.monotonic() - run_started:.0f} s; metrics/report.md, one MLflow run")
        print("\n".join(headline_lines(summary, details)))
    print(f"\nmake demo: {len(runs)} experiments in {time.monotonic() - started:.0f} s. Next:")
    print(f"  # the {len(runs)} runs side by side, each predictor's headline feature in the same columns")
    print("  " + COMPARE_RECIPE)
    print(f"  dvc metrics diff --all {runs[0][2]} {runs[-1][2]}")
    print(f"  python scripts/compare_forest.py {' '.join(name for *_, name in runs)}")
    print("  mlflow ui --backend-store-uri sqlite:///$PWD/mlflow.db   # then open the experiment with "
          f"?{RUNS_TABLE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
