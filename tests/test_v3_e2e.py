"""End to end: V3 recovers a planted within-element effect that V2 cannot see.

A synthetic library: in each element, half of the designed oligos carry the DR1 site
(PPARγ:RXR, which the local model server scores) and have higher activity; the other
half carry a neutral replacement. V2 gives every oligo its element's reference window,
so it cannot see the difference; V3 puts each oligo's own sequence in front of the model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.support.alphagenome.server import LocalAlphaGenomeServer
from tests.support.synthetic import (
    SyntheticElement,
    SyntheticGenome,
    random_motif,
    replace_span,
    wild_type_oligo,
)
from tests.conftest import compose_config, pipeline_repo

pytestmark = pytest.mark.e2e

DR1 = "AGGTCAAAGGTCA"
NEUTRAL = "ACTTGCATCCGTA"
OLIGO, MOTIF_OFFSET, ELEMENTS, DESIGNS = 150, 60, 8, 10
# The shipped number of null replicates (pipeline_repo's tiny one is too few to pass the calibration
# check of the within-element p this test reads, which would withhold it).
FAST = ["evaluate.n_permutations=500",
        f"evaluate.calibration.n_replicates={compose_config()['evaluate']['calibration']['n_replicates']}"]


def planted_library(directory, rng):
    """Counts file, design TSV and genome FASTA; log2 ratio = element base + 1.5 x (DR1) + noise."""
    elements = [SyntheticElement(f"PPREwt_{i}", "chr1", 20_000 * (i + 1), "+-"[i % 2], random_motif(rng))
                for i in range(ELEMENTS)]
    genome = SyntheticGenome({"chr1": 20_000 * (ELEMENTS + 2)}, [e.planted_site() for e in elements], seed=11)
    lines, design = ["name\ttags\tcounts.rna\tcounts.plasmid"], {}
    for element in elements:
        wild_type = wild_type_oligo(genome, element, OLIGO, MOTIF_OFFSET)
        assert DR1 not in wild_type
        base = rng.normal(0, 1)
        oligos = [(f"{element.name_stem}_wt", wild_type, base)]
        for d in range(DESIGNS):
            start = 5 + 13 * d if 5 + 13 * d + 13 <= MOTIF_OFFSET else MOTIF_OFFSET + 16 + 13 * (d - 4)
            carries = d % 2 == 0
            label = "ppar" if carries else "myc"
            name = f"{element.name_stem}_ap1_{start}_{start + 13}_{label}"
            oligos.append((name, replace_span(wild_type, start, DR1 if carries else NEUTRAL), base + 1.5 * carries))
        for name, sequence, target in oligos:
            plasmid = 2_000
            rna = int(round(plasmid * 2 ** (target + rng.normal(0, 0.2))))
            lines.append(f"{name}\t100\t{rna}\t{plasmid}")
            design[name] = sequence
    (directory / "counts").mkdir()
    counts = directory / "counts" / "PLANTED_Pool6.txt"
    counts.write_text("\n".join(lines))
    design_path = directory / "design.tsv"
    design_path.write_text("name\tsequence\n" + "".join(f"{n}\t{s}\n" for n, s in design.items()))
    genome.write_chromosome_fasta(directory / "genome.fa")
    return counts, design_path, design


@pytest.fixture
def planted(tmp_path):
    from mprabench.files import sha256_file

    counts, design_path, design = planted_library(tmp_path, np.random.default_rng(5))
    repo = pipeline_repo(tmp_path)
    dataset = compose_config()["dataset"]
    dataset.update(source=str(counts.parent), files=[{"name": counts.name, "pool": "Pool6",
                   "design_grammar": "site_replacement", "sha256": sha256_file(counts)}])
    repo.add_config("dataset", "planted", dataset)
    repo.add_config("genome", "planted", {**compose_config()["genome"], "fasta": str(tmp_path / "genome.fa")})
    repo.env["ALPHAGENOME_API_KEY"] = "local-test-key"
    return repo, design_path, design


def run(repo, server, name, *overrides, target: tuple[str, ...] = ()):
    args = ["exp", "run", *target, "-n", name, "-S", "dataset=planted", "-S", "genome=planted",
            "-S", f"experiment={name}", "-S", f"predictor.address={server.address}", "-S", "predictor.insecure=true"]
    repo.dvc(*args, *[a for o in [*FAST, *overrides] for a in ("-S", o)])
    return repo.json("metrics/summary.json"), repo.json("metrics/qc.json")


def test_v3_recovers_the_planted_within_element_effect_that_v2_cannot_see(planted):
    repo, design_path, _ = planted
    n_oligos = ELEMENTS * (DESIGNS + 1)
    with LocalAlphaGenomeServer() as server:
        summary, qc = run(repo, server, "v2")
        assert qc["distinct_inputs"] == ELEMENTS
        assert summary["dnase_center"]["within_element_r"] is None
        assert "Not estimable: model inputs do not vary" in (repo.root / "metrics/report.md").read_text()

        summary, qc = run(repo, server, "v3", f"dataset.design={design_path}")
        design_records = repo.json("metrics/qc_details.json")["design"]["design_records"]
        assert (qc["benchmark_rows"], qc["distinct_inputs"], design_records) == (n_oligos, n_oligos, n_oligos)
        assert sum(qc["excluded"].values()) == 0
        headline = summary["dnase_center"]
        assert summary["design"]["n_unique_inputs"] == n_oligos
        # 8 elements pooled by the t-test of z (t on 7 df): strong, but not 1e-6 strong.
        assert headline["within_element_r"] > 0.8 and headline["within_element_p"] < 1e-3
        details = repo.json("metrics/details.json")
        assert details["per_feature"]["dnase_center"]["within_element"]["summary"]["n_elements_used"] == ELEMENTS
        report = (repo.root / "metrics/report.md").read_text()
        assert "**Within-element variant effects**" in report
        assert (repo.root / "plots/figures/within_element.png").is_file()

        calls_before = server.counters().predict_calls
        # stops at evaluate: what this run checks is in summary.json and the server's counters (the
        # report stage ran in both runs above)
        summary, qc = run(repo, server, "v3_mouse", f"dataset.design={design_path}", target=("evaluate",))
        assert set(summary) == {"design", "headline"} | {f"{o}_{k}" for o in ("dnase", "rna") for k in ("mean", "center")}
        assert summary["dnase_center"]["within_element_r"] > 0.8
        counters = server.counters()
        assert counters.predict_calls - calls_before == n_oligos, "one request per distinct 16 kb input"
        rows = pd.read_parquet(repo.root / "data/prepared/rows.parquet")
        received = set(counters.predict_calls_by_sequence)
        assert set(rows["input_sha256"]) <= received, "16,384-bp inputs are sent as they are, unpadded"


def test_v3_without_a_design_says_how_to_give_one(planted):
    repo, _, _ = planted
    with LocalAlphaGenomeServer() as server:
        result = repo.dvc("exp", "run", "-S", "dataset=planted", "-S", "genome=planted", "-S", "experiment=v3",
                          "-S", f"predictor.address={server.address}", check=False)
    assert result.returncode != 0
    assert "set dataset.design" in result.stderr and "dvc exp run -S dataset.design=" in result.stderr
