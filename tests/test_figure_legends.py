"""Figure legends name only what the figure draws (the strata figure's CI whiskers and × marks)."""

from __future__ import annotations

import numpy as np

from mprabench.plots.figures import strata_figure
from mprabench.plots.render import strata_bars
from mprabench.plots.style import feature_styles
from tests.test_plots import FEATURES, case  # noqa: F401 (case is the fixture of those tests)


def legend_labels(fig) -> list[str]:
    return [t.get_text() for legend in fig.legends for t in legend.get_texts()]


def whisker_segments(fig) -> int:
    return sum(len(c.get_segments()) for ax in fig.axes for c in ax.collections if hasattr(c, "get_segments"))


def test_strata_legend_and_title_promise_whiskers_only_when_drawn(case):  # noqa: F811
    _, _, evaluation, _, _, _ = case
    for kind, (bars, hidden) in strata_bars(evaluation).items():
        fig = strata_figure(bars, kind, evaluation, feature_styles(FEATURES), None, hidden)
        assert ("element-aware CI" in legend_labels(fig)) == (whisker_segments(fig) > 0), kind

        without_ci = bars.assign(ci_low=np.nan, ci_high=np.nan)
        fig = strata_figure(without_ci, kind, evaluation, feature_styles(FEATURES), None, hidden)
        assert whisker_segments(fig) == 0
        assert "element-aware CI" not in legend_labels(fig), kind
        assert "whiskers" not in "\n".join(t.get_text() for t in fig.texts), kind
