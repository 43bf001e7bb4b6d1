"""`dvc plots show/diff` pages carry vega inline (.dvc/offline_plots.html), so they draw without network."""

from __future__ import annotations

import re

import pytest

from scripts.vendor_vega import template
from tests.conftest import REPO
from tests.support.repo_copy import make_repo_copy


def test_dvc_plots_page_loads_nothing_from_the_network(tmp_path):
    repo = make_repo_copy(REPO, tmp_path / "repo")
    (repo.root / "points.csv").write_text("x,y\n1,2\n2,3\n3,5\n")
    repo.dvc("plots", "show", "points.csv", "-x", "x", "-y", "y", "-o", "out")
    page = (repo.root / "out" / "index.html").read_text()
    assert re.findall(r"<script[^>]*\bsrc=", page) == [], "a script is loaded from elsewhere"
    assert "https://" not in page.split("<script>")[0], "the page head names a remote resource"
    for library in ("/* vega 5.", "/* vega-lite 5.", "/* vega-embed 6."):
        assert library in page
    assert "vegaEmbed(" in page and "{plot_divs}" not in page


def test_template_refuses_code_that_would_break_the_page():
    with pytest.raises(ValueError, match="vega-embed contains text"):
        template([("vega-embed", "6.0.0", "var s = '</script>';")])
    page = template([("vega", "5.0.0", "function f(){return {a:{b:1}}}")])
    assert "function f(){return {a:{b:1}}}" in page and "{plot_divs}" in page
