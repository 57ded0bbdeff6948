"""Cumulative incidence of local regrowth with competing events, over an at-risk table."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import plotly.graph_objects as go
import polars as pl

from ..i18n import _, fmt_int
from .km import CurveSpec, RiskRow, step_figure


def cif_figure(
    cif: pl.DataFrame,
    risk: pl.DataFrame,
    *,
    groups: Sequence[str],
    label: Callable[[str], str],
    n: dict[str, int],
    colours: dict[str, str],
    x_title: str,
    grid: Sequence[float],
    show_ci: bool = True,
    show_competing: bool = True,
    min_at_risk: float = 0.0,
) -> go.Figure:
    """Aalen-Johansen cumulative incidence of regrowth (solid, with CI band) and of the
    competing events (distant metastasis or death first; dotted, no band) per group.

    Parameters
    ----------
    cif : ``CompetingSummary.cif_`` (``cause, group, time, n_risk, n_event, cif, lower, upper``).
    risk : at-risk cells per ``group, time`` with ``text``.
    """
    specs = []
    top = 0.0
    for g in groups:
        for cause in ("REGROWTH", "COMPETING"):
            if cause == "COMPETING" and not show_competing:
                continue
            d = (cif.filter((pl.col("group") == g) & (pl.col("cause") == cause))
                 .select("time", pl.col("cif").alias("estimate"), "lower", "upper", "n_risk"))
            if d.height:
                top = max(top, float(d.get_column("upper").fill_null(0).max() if show_ci and cause == "REGROWTH"
                                     else d.get_column("estimate").max()))
            name = (_("{label} ({n_word}={n})").format(label=label(g), n_word="n", n=fmt_int(n.get(g, 0)))
                    if cause == "REGROWTH"
                    else _("{group}: distant metastasis or death").format(group=label(g)))
            specs.append(CurveSpec(f"{g}:{cause}", name, colours[g], d, "solid" if cause == "REGROWTH" else "dot",
                                   show_ci and cause == "REGROWTH", censor_marks=False))
    ymax = min(100.0, max(20.0, 10 * (int(100 * top * 1.15) // 10 + 1)))
    rows = [RiskRow(label(g), colours[g], risk.filter(pl.col("group") == g)) for g in groups]
    return step_figure(specs, rows, x_title=x_title, y_title=_("Cumulative incidence (%)"), grid=grid, start=0.0,
                       y_range=(0.0, ymax), min_at_risk=min_at_risk)
