"""report.html in the MLflow run: the report with every figure embedded, and no link MLflow would break."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import mlflow

from mprabench.report_html import self_contained_html
from tests.report_fixtures import make_report_fixture


def test_mlflow_run_carries_report_html_with_every_figure_inline(tmp_path, monkeypatch):
    fixture = make_report_fixture(tmp_path)
    uri = fixture.run_report(monkeypatch)

    client = mlflow.MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("mprabench-GSE84888").experiment_id])
    downloaded = Path(client.download_artifacts(run.info.run_id, "", str(tmp_path / "downloaded")))
    page = (downloaded / "report.html").read_text()
    markdown = (downloaded / "report.md").read_text()

    figures = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", markdown)
    assert figures, "the report shows no figure: the check below would prove nothing"
    for name in figures:
        encoded = base64.b64encode((downloaded / name).read_bytes()).decode("ascii")
        assert f'src="data:image/png;base64,{encoded}"' in page, f"{name} is not embedded"
    assert re.findall(r'<img src="(?!data:)', page) == []
    assert re.findall(r'href="(?!#)', page) == [], "a link MLflow would resolve against its server root"
    assert page.count("<table>") == markdown.count("\n| ---") + markdown.count("\n|---")
    assert "<title>" in page and "tables/" in page  # tables are named, not linked


def test_links_outside_the_artifacts_are_left_alone(tmp_path):
    figure = tmp_path / "f.png"
    figure.write_bytes(b"\x89PNG fake")
    page = self_contained_html("![f](figures/f.png) [csv](tables/t.csv) [web](https://example.org) "
                               "![gone](figures/missing.png)",
                               {"figures/f.png": figure, "tables/t.csv": tmp_path / "t.csv"}, "t")
    assert f'src="data:image/png;base64,{base64.b64encode(figure.read_bytes()).decode()}"' in page
    assert 'title="artifact tables/t.csv of this run">csv</span>' in page
    assert '<a href="https://example.org">web</a>' in page
    assert '<img src="figures/missing.png" alt="gone"' in page
