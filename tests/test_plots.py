"""Figures and DVC plot data: files, ROC/scatter CSV invariants, no numbers for n.e. strata."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from PIL import Image
from sklearn.metrics import roc_auc_score

from mprabench.config import EvaluateConfig
from mprabench.evaluation import Evaluation, evaluate
from mprabench.plots.data import write_plot_data
from mprabench.plots.render import render_figures
from mprabench.plots.data import (
    input_level_table,
    roc_on_grid,
    roc_points,
    stratum_bar_data,
    within_element_deltas,
)
from mprabench.plots.figures import (
    distribution_figure,
    scatter_figure,
    scatter_stats_text,
    short_element_label,
)
from mprabench.plots.forest import forest_figure, forest_table
from mprabench.plots.labels import feature_label, predictor_description, run_context, target_label
from mprabench.predictors.alphagenome import source_of
from mprabench.provenance import SOURCE_API, SOURCE_LOCAL
from mprabench.sources.locations import is_loopback
from mprabench.plots.render import (
    WITHIN_ELEMENT_FIGURE,
    drawn_subset,
    figure_builders,
    render_in_processes,
    strata_bars,
)
from tests.conftest import compose_config, configured, typed_params

N_ELEMENTS, ROWS_PER_ELEMENT, N_WILD_TYPE = 12, 20, 2
FEATURES = ["signal_a", "signal_b", "flat"]  # "flat" is constant: nothing about it is estimable
RARE_TF = "RARE"  # carried by one element only: fewer distinct inputs than a stratum needs
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TEST_DPI = 50  # small files, quick tests; the layout does not depend on dpi


def synthetic_table(vary_within_elements: bool, seed: int = 0) -> pd.DataFrame:
    """12 elements x 20 rows; V2-like (one input per element) or V3-like (one input per oligo)."""
    rng = np.random.default_rng(seed)
    n = N_ELEMENTS * ROWS_PER_ELEMENT
    element = np.repeat(np.arange(N_ELEMENTS), ROWS_PER_ELEMENT)
    position = np.tile(np.arange(ROWS_PER_ELEMENT), N_ELEMENTS)
    wild = position < N_WILD_TYPE
    if vary_within_elements:  # wild-type rows share the wild-type input, every mutant has its own
        inputs = [f"E{e}-wt" if w else f"E{e}-m{p}" for e, p, w in zip(element, position, wild)]
    else:
        inputs = [f"E{e}" for e in element]
    tfs = [["PPARG", "RXRA"][p % 2:] + ([RARE_TF] if e == 0 else [])
           for e, p in zip(element, position)]
    table = pd.DataFrame({
        "row_id": [f"r{i}" for i in range(n)], "element_id": [f"E{e:02d}" for e in element],
        "input_sha256": inputs, "strand": np.where(element % 2 == 0, "+", "-"),
        "chrom": [f"chr{e % 3 + 1}" for e in element], "tf_labels": tfs, "is_wild_type": wild,
        "zero_rna_dropout": False,
    })  # fmt: skip
    between = rng.normal(size=N_ELEMENTS)[element]
    per_input = pd.Series(rng.normal(size=len(set(inputs))), index=sorted(set(inputs)))
    within = per_input.reindex(inputs).to_numpy()
    table["signal_a"] = between + within
    table["signal_b"] = rng.normal(size=N_ELEMENTS)[element] + 0.5 * within
    table["flat"] = 1.0
    table["log2_ratio"] = 0.6 * between + 0.4 * within + rng.normal(scale=0.5, size=n)
    table["activity"] = 2.0 ** table["log2_ratio"]
    return table


def config() -> EvaluateConfig:
    return configured(EvaluateConfig, "evaluate", primary_features=["signal_a", "signal_b"], n_permutations=500,
                      strata=["tf", "strand", "chrom"])


@pytest.fixture(scope="module", params=["v2", "v3"])
def case(request, tmp_path_factory) -> tuple[str, pd.DataFrame, Evaluation, Path, list, list]:
    """One evaluation per configuration, its figures and plot data rendered once."""
    table = synthetic_table(vary_within_elements=request.param == "v3")
    evaluation = evaluate(table, FEATURES, config())
    out = tmp_path_factory.mktemp(request.param)
    figures = render_figures(table, evaluation, out / "figures", dpi=TEST_DPI)
    data = write_plot_data(table, evaluation, roc=out / "data" / "roc.csv", scatter=out / "data" / "scatter.csv",
                           n_roc_points=101)
    return request.param, table, evaluation, out, figures, data


def test_figures_are_the_expected_valid_pngs(case):
    _, _, evaluation, out, figures, _ = case
    assert sorted(p.name for p in (out / "figures").iterdir()) == sorted(p.name for p in figures)
    for path in figures:
        assert path.read_bytes()[:8] == PNG_SIGNATURE
        assert path.stat().st_size > 5_000, path.name
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("L"))
        assert min(pixels.shape) > 100, path.name
        assert pixels.std() > 5, f"{path.name} is (nearly) blank"


def test_every_drawn_figure_kind_is_there(case):
    name, _, evaluation, _, figures, _ = case
    names = {p.name for p in figures}
    assert {"scatter.png", "roc.png", "spearman_heatmap.png", "distributions.png", "strata_strand.png"} <= names
    # A strata figure is drawn exactly when some stratum of its kind is estimable (chrom: 4
    # elements per chromosome here, too few for an element-aware p).
    for kind in ("strand", "chrom", "tf"):
        estimable = bool(evaluation.strata.loc[evaluation.strata["kind"] == kind, "estimable"].any())
        assert (f"strata_{kind}.png" in names) == estimable, kind
    assert "strata_chrom.png" not in names
    # A TF label's perturbation is invisible to inputs that do not vary within elements.
    assert ("strata_tf.png" in names) == (name == "v3")


def test_within_element_figure_exists_only_when_inputs_vary_within_elements(case):
    name, _, evaluation, out, _, _ = case
    exists = (out / "figures" / WITHIN_ELEMENT_FIGURE).exists()
    assert exists == (name == "v3")
    assert evaluation.results["signal_a"].within.estimable == (name == "v3")


def test_sequential_rendering_writes_the_same_files_and_drops_stale_ones(case, tmp_path):
    name, table, evaluation, _, figures, _ = case
    stale = tmp_path / WITHIN_ELEMENT_FIGURE  # as if left by an earlier V3 run
    stale.write_bytes(b"old")
    sequential = render_figures(table, evaluation, tmp_path, dpi=TEST_DPI, workers=1)
    assert [p.name for p in sequential] == [p.name for p in figures]
    assert all(p.read_bytes()[:8] == PNG_SIGNATURE for p in sequential)
    # The within-element figure is redrawn in V3 and must not survive from before in V2.
    assert stale.exists() == (name == "v3")


def test_roc_csv_curves_are_monotone_from_origin_to_one_and_match_sklearn(case):
    _, table, evaluation, out, _, _ = case
    roc = pd.read_csv(out / "data" / "roc.csv")
    assert list(roc.columns) == ["feature", "fpr", "tpr"]
    # A constant feature has no AUROC, so it has no curve either.
    assert set(roc["feature"]) == {"signal_a", "signal_b"}
    y = table[evaluation.target].to_numpy(float)
    for feature, curve in roc.groupby("feature", sort=False):
        fpr, tpr = curve["fpr"].to_numpy(), curve["tpr"].to_numpy()
        assert (fpr[0], tpr[0]) == (0.0, 0.0) and (fpr[-1], tpr[-1]) == (1.0, 1.0)
        assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
        assert len(curve) <= 102  # a 101-point grid plus the origin
        expected = roc_auc_score(y > np.median(y), table[feature])
        # Sampling the trapezoidal ROC on a 0.01 grid cuts each vertical jump's corner by at
        # most half a step, so the area error is at most 0.005.
        assert np.trapezoid(tpr, fpr) == pytest.approx(expected, abs=0.005)
        assert evaluation.results[feature].pooled.auroc == pytest.approx(expected)


def test_figures_draw_the_family_first_and_at_most_the_configured_number_of_features(tmp_path):
    """Issue 22: with many features, figures and their data hold the family and then others up to
    evaluate.max_figure_features; the tables keep every feature."""
    table = synthetic_table(vary_within_elements=True)
    rng = np.random.default_rng(4)
    others = [f"other_{i:02d}" for i in range(9)]
    for name in others:
        table[name] = rng.normal(size=len(table))
    features = [*others[:4], "signal_a", *others[4:], "signal_b"]  # the family is neither first nor together
    evaluation = evaluate(table, features, configured(
        EvaluateConfig, "evaluate", primary_features=["signal_a", "signal_b"], n_permutations=99, strata=["tf"]))
    drawn_table, drawn = drawn_subset(table, evaluation, max_features=5)
    assert drawn.features == ["other_00", "other_01", "other_02", "signal_a", "signal_b"]
    assert drawn.family == ["signal_a", "signal_b"]
    assert set(drawn.strata["feature"]) == set(drawn.features)
    assert not set(others[3:]) & set(drawn_table.columns)
    write_plot_data(drawn_table, drawn, roc=tmp_path / "roc.csv", scatter=tmp_path / "scatter.csv", n_roc_points=101)
    assert set(pd.read_csv(tmp_path / "scatter.csv")["feature"]) == set(drawn.features)
    assert set(evaluation.strata["feature"]) == set(features)  # every feature is still tabled
    # a cap below the family's size keeps the family's first members, never another feature
    assert drawn_subset(table, evaluation, max_features=1)[1].features == ["signal_a"]


def test_roc_on_grid_keeps_area_for_a_step_curve_with_few_thresholds():
    rng = np.random.default_rng(3)
    x = np.repeat(rng.normal(size=5), 40)  # five distinct values: a coarse step ROC
    y = x + rng.normal(size=x.size)
    fpr, tpr = roc_on_grid(*roc_points(x, y), n_points=101)
    assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc_score(y > np.median(y), x), abs=0.005)


def test_scatter_csv_has_one_row_per_feature_and_distinct_input(case):
    _, table, evaluation, out, _, _ = case
    scatter = pd.read_csv(out / "data" / "scatter.csv")
    assert list(scatter.columns) == ["feature", "prediction", "target_mean", "n_rows", "element_id"]
    n_inputs = table["input_sha256"].nunique()
    assert scatter.groupby("feature").size().to_dict() == {f: n_inputs for f in FEATURES}
    assert scatter.groupby("feature")["n_rows"].sum().to_dict() == {f: len(table) for f in FEATURES}
    target = evaluation.target
    for _, points in scatter.groupby("feature"):
        weighted = np.average(points["target_mean"], weights=points["n_rows"])
        assert weighted == pytest.approx(table[target].mean(), rel=1e-4)
    assert set(scatter["element_id"]) == set(table["element_id"])


def test_input_level_table_keeps_each_inputs_prediction_and_element():
    table = synthetic_table(vary_within_elements=True)
    inputs = input_level_table(table, FEATURES, "log2_ratio")
    first = table.groupby("input_sha256")[["signal_a", "element_id"]].first()
    pd.testing.assert_series_equal(inputs["signal_a"], first["signal_a"])
    assert (inputs["element_id"] == first["element_id"]).all()


def test_not_estimable_strata_carry_no_numbers(case):
    name, _, evaluation, _, _, _ = case
    bars = stratum_bar_data(evaluation.strata, "tf", evaluation.family)
    rare = bars[bars["stratum"] == RARE_TF]
    assert len(rare) == len(evaluation.family)
    common = bars[bars["stratum"] == "PPARG"]
    if name == "v2":  # the TF perturbation never reaches a V2 input: no TF stratum is estimable
        assert not bars["estimable"].any()
        assert bars[["r", "ci_low", "ci_high"]].isna().all().all()
    else:
        assert common["estimable"].all() and common["r"].notna().all()


def test_stratum_bar_data_hides_numbers_that_a_non_estimable_row_carries():
    strata = pd.DataFrame({
        "feature": ["f", "f"], "kind": ["chrom", "chrom"], "stratum": ["chr10", "chr2"],
        "n_rows": [5, 50], "n_unique_inputs": [1, 9], "n_elements": [1, 9],
        "estimable": [False, True], "r": [0.0, 0.4], "ci_low": [0.0, 0.1],
        "ci_high": [0.0, 0.6],
    })  # fmt: skip
    bars = stratum_bar_data(strata, "chrom", ["f"])
    assert list(bars["stratum"]) == ["chr2", "chr10"]  # natural chromosome order
    hidden = bars[bars["stratum"] == "chr10"].iloc[0]
    assert not hidden["estimable"]
    assert pd.isna(hidden["r"]) and pd.isna(hidden["ci_low"]) and pd.isna(hidden["ci_high"])
    assert bars.loc[bars["stratum"] == "chr2", "r"].iloc[0] == pytest.approx(0.4)


def test_stratum_bar_data_keeps_only_requested_kind_and_features(case):
    _, _, evaluation, _, _, _ = case
    bars = stratum_bar_data(evaluation.strata, "strand", ["signal_a"])
    assert set(bars["feature"]) == {"signal_a"}
    assert set(bars["stratum"]) == {"+", "-"}


def test_within_element_deltas_are_relative_to_the_wild_type_mean():
    table = synthetic_table(vary_within_elements=True)
    deltas = within_element_deltas(table, ["signal_a"], "log2_ratio")
    assert len(deltas) == (~table["is_wild_type"]).sum()
    element = table[table["element_id"] == "E03"]
    wild = element[element["is_wild_type"]]
    mutant = element[~element["is_wild_type"]].iloc[0]
    row = deltas[deltas["element_id"] == "E03"].iloc[0]
    assert row["signal_a"] == pytest.approx(mutant["signal_a"] - wild["signal_a"].mean())
    assert row["delta_target"] == pytest.approx(mutant["log2_ratio"] - wild["log2_ratio"].mean())


def test_stats_text_shows_not_estimable_instead_of_numbers(case):
    _, _, evaluation, _, _, _ = case
    text = scatter_stats_text(evaluation.results["flat"])
    assert "n.e." in text and "nan" not in text.lower()
    assert "n.e." not in scatter_stats_text(evaluation.results["signal_a"])


def small_figure() -> Figure:
    fig = Figure(figsize=(2, 2))
    fig.add_subplot().plot([0, 1], [0, 1])
    return fig


def failing_figure() -> Figure:
    raise RuntimeError("builder failed")


def test_forked_workers_write_figures_and_pass_errors_on(tmp_path):
    written = render_in_processes({"a.png": small_figure, "b.png": small_figure}, tmp_path, 50, 2)
    assert [p.name for p in written] == ["a.png", "b.png"]
    assert all(p.read_bytes()[:8] == PNG_SIGNATURE for p in written)
    with pytest.raises(RuntimeError, match="builder failed"):
        render_in_processes({"ok.png": small_figure, "bad.png": failing_figure}, tmp_path, 50, 2)



def test_plot_data_can_go_to_explicit_paths(case, tmp_path):
    _, table, evaluation, out, _, _ = case
    roc, scatter = tmp_path / "a" / "curves.csv", tmp_path / "b" / "points.csv"
    assert write_plot_data(table, evaluation, roc=roc, scatter=scatter, n_roc_points=101) == [roc, scatter]
    assert roc.read_text() == (out / "data" / "roc.csv").read_text()
    assert scatter.read_text() == (out / "data" / "scatter.csv").read_text()


# --------------------------------------------------------------------------------------------
# Labels, subtitles, and figures fit for a paper
# --------------------------------------------------------------------------------------------

LOCAL_PROVENANCE = {"source": "local test server (synthetic tracks)", "model_version": "ALL_FOLDS",
                    "organism": "HOMO_SAPIENS",
                    "biosamples": [{"ontology_term": "EFO:0002067", "biosample_name": "K562",
                                    "biosample_type": "cell_line"}]}


def local_context():
    return run_context(typed_params(["predictor.address=127.0.0.1:50051", "experiment=v2"]), LOCAL_PROVENANCE)


def figure_text(fig: Figure) -> str:
    texts = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        texts += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        texts += [t.get_text() for t in ax.get_yticklabels() + ax.get_xticklabels()]
        legend = ax.get_legend()
        texts += [t.get_text() for t in legend.get_texts()] if legend else []
    return "\n".join(texts)


def test_element_labels_are_short_and_keep_prefixes_with_underscores():
    assert short_element_label("PPREwt_12_chr9_100_116_-_AGGTCAAAGGTCAGTA") == "PPREwt_12 chr9:100 (−)"
    assert short_element_label("MAC_chr2_8000_8016_+_TGACCTTTGACCTCAG") == "MAC chr2:8000 (+)"
    assert short_element_label("E07") == "E07"


def test_one_label_table_names_features_and_target():
    assert feature_label("dnase_center", 200) == "DNase, central 200 bp (mean)"
    assert feature_label("rna_max", 200) == "RNA-seq, whole input (max)"
    assert feature_label("unknown_thing") == "unknown_thing"
    assert target_label("log2_ratio") == "MPRA activity, log2(RNA/DNA)"


@pytest.mark.parametrize("address, loopback", [
    ("127.0.0.1:50051", True), ("localhost:50051", True), ("[::1]:50051", True), ("127.8.0.1", True),
    ("grpc://127.0.0.1:1", True), ("dns:///gdmscience.googleapis.com:443", False), ("10.0.0.5:50051", False),
    (None, False), ("::1", True), ("LOCALHOST:1", True), ("ipv4:127.0.0.1:50051", True),
    ("dns:///localhost:50051", True), ("ipv6:[::1]:50051", True), ("unix:/tmp/ag.sock", True),
    ("ipv4:10.1.2.3:443", False)])
def test_loopback_addresses_are_recognised(address, loopback):
    """One rule for labels and for the prediction store key (synthetic answers never pass as the API's)."""
    assert is_loopback(address) == loopback
    assert source_of(address) == (SOURCE_LOCAL if loopback else SOURCE_API)


def test_run_context_is_honest_about_local_server_biosample_and_missing_provenance():
    context = local_context()
    assert context.predictor == "local test server (synthetic tracks)"
    assert "EFO:0002067 K562" in context.subtitle and "v2" in context.subtitle
    assert "mouse 3T3-L1 adipocytes" in context.mismatch()
    unknown = run_context(typed_params(["experiment=v2"]), None)
    assert "provenance unknown" in unknown.predictor and "name unknown" in unknown.biosample_text
    assert "cell type" not in (unknown.mismatch() or ""), "an unknown name is not claimed to differ"


HEPG2_ASSAY = ["experiment.tracks=null", "dataset.assay_biosample.species=human",
               "dataset.assay_biosample.organism=HOMO_SAPIENS", "dataset.assay_biosample.cell_line=HepG2",
               "dataset.assay_biosample.cell_type=HepG2 cells", "dataset.assay_biosample.ontology_term=EFO:0001187"]


def _provenance_for(term: str, name: str) -> dict:
    return {**LOCAL_PROVENANCE, "organism": "HOMO_SAPIENS", "biosamples": [
        {"ontology_term": term, "biosample_name": name, "biosample_type": "cell_line", "organism": "HOMO_SAPIENS"}]}


def test_the_biosample_mismatch_warning_appears_only_on_a_mismatch():
    params = typed_params(HEPG2_ASSAY)
    assert run_context(params, _provenance_for("EFO:0001187", "HepG2")).mismatch() is None
    assert run_context(params, _provenance_for("EFO:0001187", "hepatocyte-like line")).mismatch() is None, \
        "the same ontology term is a match whatever the service calls it"
    assert run_context(params, None).mismatch() is None, "terms from params: the dataset's own HepG2"
    mismatch = run_context(params, _provenance_for("EFO:0002067", "K562")).mismatch()
    assert mismatch and "cell type differs (K562 vs HepG2 cells)" in mismatch and "species" not in mismatch
    pinned = run_context(typed_params(["experiment=v2"]), _provenance_for("EFO:0002067", "K562")).mismatch()
    assert pinned and "species differs" in pinned and "cell type differs" in pinned


def test_the_predictor_label_is_the_one_its_class_declares_with_the_model_version():
    """predict writes the class's `label` into provenance.json; no table here names predictors."""
    from mprabench.predictors.alphagenome import AlphaGenomePredictor
    from mprabench.predictors.kmer import KmerPredictor
    from mprabench.provenance import SOURCE_OFFLINE

    kmer = compose_config(["predictor=kmer"])["predictor"]  # the plain `predictor` section
    offline = {"label": KmerPredictor.label, "source": SOURCE_OFFLINE, "model_version": None}
    assert predictor_description(kmer, offline) == ("kmer baseline (offline)", SOURCE_OFFLINE)
    api = {"label": AlphaGenomePredictor.label, "source": SOURCE_API, "model_version": "ALL_FOLDS"}
    assert predictor_description(compose_config()["predictor"], api) == ("AlphaGenome ALL_FOLDS", SOURCE_API)
    assert predictor_description(kmer, None) == ("kmer (provenance unknown)", "unknown")


def test_every_figure_names_dataset_experiment_predictor_and_biosample(case):
    _, table, evaluation, _, _, _ = case
    context = local_context()
    for name, build in figure_builders(table, evaluation, context).items():
        # Titles are wrapped to the figure width: compare with line breaks as spaces.
        assert " ".join(context.subtitle.split()) in " ".join(figure_text(build()).split()), name


def test_one_row_per_element_gives_a_labelled_scatter_without_hexbins():
    rows = synthetic_table(vary_within_elements=False).groupby("element_id", as_index=False).first()
    evaluation = evaluate(rows, FEATURES, config())
    fig = scatter_figure(rows, evaluation, local_context())
    assert not any(isinstance(c, PolyCollection) for ax in fig.axes for c in ax.collections), "no hexbin"
    assert len(fig.axes) == len(FEATURES), "no colour bar"
    labels = {t.get_text() for t in fig.axes[0].texts}
    assert {"E00", "E11"} <= labels


def test_distributions_read_in_grayscale_one_fill_with_edges(case):
    _, table, evaluation, _, _, _ = case
    inputs = input_level_table(table, evaluation.features, evaluation.target)
    fig = distribution_figure(inputs, evaluation, context=local_context())
    bars = [p for ax in fig.axes for p in ax.patches]
    assert bars and len({p.get_facecolor() for p in bars}) == 1
    assert all(p.get_edgecolor()[:3] == (0.0, 0.0, 0.0) and p.get_linewidth() > 0 for p in bars)


def test_strata_figures_show_only_estimable_strata(case):
    _, _, evaluation, _, _, _ = case
    for kind, (bars, hidden) in strata_bars(evaluation).items():
        shown = bars.groupby("stratum", observed=True)["estimable"].any()
        assert shown.all(), kind
        assert not set(hidden) & set(bars["stratum"].astype(str)), kind


def test_forest_plot_puts_experiments_side_by_side_from_summaries():
    summary = {"design": {"n_rows": 10, "n_elements": 5, "n_unique_inputs": 5},
               "dnase_center": {"element_pearson_r": 0.3, "pearson_r_ci_low": -0.1, "pearson_r_ci_high": 0.6,
                                "element_p": 0.2, "element_neglog10_p": 0.7,
                                "element_bonferroni_significant": False},
               "cage_mean": {"element_pearson_r": None, "pearson_r_ci_low": None, "pearson_r_ci_high": None,
                             "element_p": None, "element_neglog10_p": None,
                             "element_bonferroni_significant": None}}
    frame = forest_table({"v1": summary, "v2": summary}, feature_label)
    assert len(frame) == 4 and set(frame["experiment"]) == {"v1", "v2"}
    assert frame.loc[frame["feature"] == "cage_mean", "significant"].eq("n.e.").all()
    text = figure_text(forest_figure(frame, "subtitle", 5, 0.95))
    assert "DNase, central" in text and "n.e. (not estimable)" in "\n".join(
        t.get_text() for t in forest_figure(frame, "s", 5, 0.95).axes[0].texts)


def test_forest_plot_draws_spearmans_interval_where_the_pearson_one_is_withheld(tmp_path):
    from mprabench.plots.forest import write_forest_csv

    reason = "not calibrated: pearson_r_ci coverage 0.808 ± 0.009 under the null leverage_smallest (nominal 0.95)"
    withheld = {"element_pearson_r": 0.3, "pearson_r_ci_low": None, "pearson_r_ci_high": None, "element_p": None,
                "element_neglog10_p": None, "spearman_rho": 0.2, "spearman_ci_low": -0.3, "spearman_ci_high": 0.6,
                "element_spearman_p": 0.4, "spearman_neglog10_p": 0.4, "element_bonferroni_significant": False,
                "pearson_r_ci_reason": reason, "element_p_reason": reason.replace("pearson_r_ci", "element_p")}
    frame = forest_table({"v2": {"design": {"n_elements": 18}, "dnase_center": withheld}}, feature_label)
    assert frame.loc[0, "withheld"].startswith(reason)
    figure = forest_figure(frame, "subtitle", 18, 0.95)
    annotations = "\n".join(t.get_text() for t in figure.axes[0].texts)
    assert "r = +0.30, ρ = +0.20, p(ρ) = 0.4 (Pearson CI, p withheld)" in annotations
    lines = [c for c in figure.axes[0].collections if len(c.get_segments())]
    assert any(np.allclose(seg[:, 0], [-0.3, 0.6]) for c in lines for seg in c.get_segments()), "ρ's interval"
    assert "Spearman's ρ, where this design's calibration withholds" in figure_text(figure)
    written = write_forest_csv(frame, tmp_path / "forest.csv").read_text()
    assert reason in written and "nan" not in written


def _figure_texts(fig) -> str:
    texts = [t.get_text() for t in fig.texts]
    texts += [a.get_xlabel() for a in fig.axes] + [a.get_title() for a in fig.axes]
    return "\n".join(texts)


def test_strata_figures_name_what_r_is_and_why_a_stratum_is_hidden(case):
    from mprabench.plots.figures import strata_figure
    from mprabench.plots.style import feature_styles

    name, _, evaluation, _, _, _ = case
    for kind, (bars, hidden) in strata_bars(evaluation).items():
        text = _figure_texts(strata_figure(bars, kind, evaluation, feature_styles(FEATURES), None, hidden))
        expected = "pooled within-element r" if kind == "tf" else "Spearman ρ of element means"
        assert expected in text, (name, kind)
        if kind == "tf":
            assert "Pearson r" not in text, "a TF bar is a pooled within-element r"
        strata = evaluation.strata
        for stratum in hidden:
            reasons = strata.loc[(strata["kind"] == kind) & (strata["stratum"].astype(str) == stratum)
                                 & strata["feature"].isin(evaluation.family), "reason"].dropna()
            assert reasons.size and all(reason in text for reason in reasons), (kind, stratum)
    if name == "v3":
        assert strata_bars(evaluation)["tf"][1] == [RARE_TF]  # the case above does run


def test_within_element_figure_states_the_pooling(case):
    from mprabench.plots.figures import within_element_figure, within_element_features
    from mprabench.plots.style import feature_styles
    from mprabench.stats.within_element import SUMMARY_METHOD_SHORT

    name, table, evaluation, _, _, _ = case
    features = within_element_features(evaluation)
    if name != "v3":
        assert not features
        return
    text = _figure_texts(within_element_figure(table, evaluation, features, feature_styles(FEATURES)))
    assert SUMMARY_METHOD_SHORT in text.replace("\n", " ") and "(n − 3)-weighted" not in text


def test_scatter_notes_give_a_trained_baseline_its_refit_null_not_a_permutation_p():
    from mprabench.plots.figures import scatter_notes

    table = synthetic_table(vary_within_elements=False)
    table["kmer_ridge_oof"] = table["signal_b"]
    plain = scatter_notes(evaluate(table, FEATURES, config()))
    assert "refit null" not in plain
    trained = evaluate(table, [*FEATURES, "kmer_ridge_oof"], config(),
                       {"kmer_ridge_oof": {"element_p": 0.3, "target": "log2_ratio"}})
    notes = scatter_notes(trained)
    assert "except for the trained baseline kmer_ridge_oof" in notes and "refit null" in notes
