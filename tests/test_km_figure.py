"""The Kaplan-Meier figure's thinned payload and its KMunicate table (figures/km.py).

The figure sends only the points where a step curve or its band changes (issue 18). What
is drawn and what the hover shows must not change: checked here against lifelines'
unthinned estimate at every distinct time, against the estimator's own table, and on the
exported PNG (pixel by pixel against the same figure drawn from every row). The KMunicate
rows (cumulative censored / events under each number at risk) are checked against R.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import polars as pl
import pytest
from numpy.testing import assert_allclose

from dashboard.figures.km import km_figure, step_points
from dashboard.stats import kaplan_meier
from dashboard.stats.summaries import risk_table
from dashboard.tables.survival import format_risk_cells

R = Path(__file__).resolve().parent / "r"
LUNG_GRID = [float(t) for t in range(0, 1081, 180)]
LABELS = {"1": "Male", "2": "Female"}
COLOURS = {"1": "#0072B2", "2": "#E69F00"}


def _lung() -> pl.DataFrame:
    return pl.read_csv(R / "data" / "lung.csv", null_values="NA").with_columns(pl.col("sex").cast(pl.String))


def _figure(kmunicate: bool = False, thin: bool = True) -> tuple[go.Figure, pl.DataFrame]:
    km = kaplan_meier(_lung(), "time", "status", group="sex")
    risk = format_risk_cells(risk_table(km, LUNG_GRID), False, kmunicate=kmunicate)
    n = dict(_lung().group_by("sex").len().iter_rows())
    fig = km_figure(km, risk, groups=["1", "2"], label=LABELS.get, n=n, colours=COLOURS, x_title="Days",
                    y_title="Survival (%)", grid=LUNG_GRID, thin=thin, kmunicate=kmunicate)
    return fig, km


def _curve_points(fig: go.Figure, group: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x, y, customdata of the hovered curve traces of one group (full part + thin tail)."""
    xs, ys, cs = [], [], []
    for t in fig.data:
        if t.legendgroup == group and t.mode == "lines" and t.hovertemplate:
            xs.append(np.asarray(t.x, float)), ys.append(np.asarray(t.y, float)), cs.append(np.asarray(t.customdata, float))
    x, y, c = np.concatenate(xs), np.concatenate(ys), np.concatenate(cs)
    order = np.argsort(x, kind="stable")
    return x[order], y[order], c[order]


def _band(fig: go.Figure, group: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lo, hi = [t for t in fig.data if t.legendgroup == group and t.hoverinfo == "skip" and t.mode == "lines"]
    return np.asarray(lo.x, float), np.asarray(lo.y, float), np.asarray(hi.y, float)


def _drawn(x: np.ndarray, y: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The value a ``shape="hv"`` line through (x, y) has at the times ``at``."""
    return y[np.searchsorted(x, at, side="right") - 1]


@pytest.mark.parametrize("thin", [True, False], ids=["thin-tail", "no-thin-tail"])
def test_drawn_curve_and_hover_equal_the_unthinned_lifelines_estimate(thin):
    from lifelines import KaplanMeierFitter

    fig, km = _figure(thin=thin)
    lung = _lung()
    for g in ("1", "2"):
        part = lung.filter(pl.col("sex") == g)
        kmf = KaplanMeierFitter().fit(part["time"].to_numpy(), part["status"].to_numpy())
        times = kmf.survival_function_.index.to_numpy()  # every distinct time, with t = 0
        x, y, c = _curve_points(fig, g)
        # the drawn step curve at every distinct time (events and censorings) is lifelines' estimate
        assert_allclose(_drawn(x, y, times), 100 * kmf.survival_function_.iloc[:, 0].to_numpy(), rtol=1e-12)
        # every event time is a point (so each drop has its hover), and the last follow-up time too
        events = kmf.event_table.index[kmf.event_table["observed"] > 0].to_numpy()
        assert set(events) <= set(x) and x.max() == times.max()
        # each hovered point shows exactly what the unthinned table has at that time
        rows = km.filter(pl.col("group") == g)
        at = {r["time"]: r for r in rows.iter_rows(named=True)}
        for xi, yi, ci in zip(x[1:], y[1:], c[1:]):
            assert yi == 100 * at[xi]["survival"] and ci == at[xi]["n_risk"]
        assert_allclose(c[1:], kmf.event_table["at_risk"].reindex(x[1:]).to_numpy())
        # the band, drawn in single precision, follows the unthinned limits at every time
        bx, lo, hi = _band(fig, g)
        full = rows.filter(pl.col("time") <= bx.max())
        t_full = full["time"].to_numpy()
        for drawn, col in ((lo, "lower"), (hi, "upper")):
            want = 100 * full[col].fill_null(np.nan).to_numpy()
            got = _drawn(bx, drawn, t_full)
            ok = ~np.isnan(want)
            assert_allclose(got[ok], want[ok], rtol=1e-6)
        # and the payload: a point per change (event times, plus time 0, the thin split, the last time)
        assert np.unique(x).size <= events.size + 3 < rows.height + 1


def test_step_points_keeps_changes_split_and_last():
    est = np.array([100, 100, 90, 90, 90, 80, 80], float)
    nan = np.full(7, np.nan)
    assert step_points(est, nan, nan, 3).tolist() == [0, 2, 3, 5, 6]
    lo = np.array([100, np.nan, np.nan, 70, 70, 70, 70], float)  # a limit appearing counts as a change
    assert step_points(est, lo, lo, 7).tolist() == [0, 1, 2, 3, 5, 6]
    assert step_points(est[:2], nan[:2], nan[:2], 0).tolist() == [0, 1]


def _registry_like(kmunicate: bool = False) -> tuple[go.Figure, pl.DataFrame]:
    """A registry-like follow-up: most patients censored (alive, organ in place), whole days in months."""
    rng = np.random.default_rng(18)
    n = 4000
    event_t, cens_t = rng.exponential(4000, n), rng.uniform(30, 1800, n)
    df = pl.DataFrame({"time": np.ceil(np.minimum(event_t, cens_t)) / 30.4375, "status": (event_t <= cens_t).astype(int),
                       "g": rng.choice(["A", "B"], n)})
    km = kaplan_meier(df, "time", "status", group="g")
    grid = [0.0, 12.0, 24.0, 36.0, 48.0, 60.0]
    risk = format_risk_cells(risk_table(km, grid), False, kmunicate=kmunicate)
    n_g = dict(df.group_by("g").len().iter_rows())
    fig = km_figure(km, risk, groups=["A", "B"], label=str, n=n_g, colours={"A": "#0072B2", "B": "#E69F00"},
                    x_title="Months", y_title="%", grid=grid, kmunicate=kmunicate)
    return fig, km


def test_thinned_payload_is_a_fraction_of_the_table():
    fig, km = _registry_like()
    events = km.filter(pl.col("n_event") > 0).height
    curve = sum(len(t.x) for t in fig.data if t.mode == "lines" and t.hovertemplate)
    assert curve <= events + 4 * 2  # per group: time 0, the thin split (drawn in both parts), the last time
    assert km.height > 2 * events  # most distinct times are censorings: the points left out
    assert len(fig.to_json()) < 0.5 * 40 * 3 * km.height  # was ~40 bytes per row and trace (x, y, hover)


def test_kmunicate_rows_are_Rs_cumulative_counts():
    # R: s <- summary(survfit(Surv(time, status) ~ sex, data = lung), times = seq(0, 1080, 180), extend = TRUE)
    #    n.risk, ave(s$n.event, strata, FUN = cumsum), ave(s$n.censor, strata, FUN = cumsum)
    #    (tests/r/reference.R: risk_out; file tests/r/reference/risktable_lung.csv)
    r = pl.read_csv(R / "reference" / "risktable_lung.csv").with_columns(pl.col("strata").cast(pl.String))
    fig, _ = _figure(kmunicate=True)
    rows = [t for t in fig.data if t.meta == "risk"]
    assert [t.name for t in rows] == ["at risk: Male", "at risk: Censored", "at risk: Events",
                                      "at risk: Female", "at risk: Censored", "at risk: Events"]
    assert list(fig.layout.yaxis2.ticktext) == ["Male", "Censored", "Events", "Female", "Censored", "Events"]
    for i, g in enumerate(("1", "2")):
        want = r.filter(pl.col("strata") == g)
        for k, col in enumerate(("n.risk", "cum.censor", "cum.event")):
            row = rows[3 * i + k]
            assert list(row.x) == LUNG_GRID
            assert [int(s.replace(",", "")) for s in row.text] == [int(v) for v in want[col]], (g, col)
            assert row.textfont.color == COLOURS[g]
        # at every tick the three rows account for every patient of the group (KMunicate)
        at_end = [int(rows[3 * i + k].text[-1].replace(",", "")) for k in range(3)]
        assert sum(at_end) == _lung().filter(pl.col("sex") == g).height


def test_plain_risk_table_is_unchanged_without_kmunicate():
    fig, _ = _figure(kmunicate=False)
    assert list(fig.layout.yaxis2.ticktext) == ["Male", "Female"]


def test_exported_png_is_the_same_picture_as_the_unthinned_figure(monkeypatch):
    from PIL import Image

    from dashboard.figures import km as km_module
    from dashboard.figures.export import figure_bytes

    fig, _km = _registry_like(kmunicate=True)
    monkeypatch.setattr(km_module, "step_points", lambda est, lo, hi, split: np.arange(est.size))
    full, _km = _registry_like(kmunicate=True)  # every row of the table drawn, as before the thinning
    assert sum(len(t.x) for t in full.data) > 1.5 * sum(len(t.x) for t in fig.data)
    a, b = (np.asarray(Image.open(io.BytesIO(figure_bytes(f, "png", "double", None, footer="off", dpi=300)))
                       .convert("RGB"), dtype=int) for f in (fig, full))
    assert a.shape == b.shape
    diff = np.abs(a - b).max(axis=2)
    # antialiasing of the single-precision band may move a pixel's shade, never a line
    assert (diff > 48).sum() == 0 and (diff > 0).mean() < 1e-3, ((diff > 0).sum(), diff.max())
    spec = json.loads(fig.to_json())
    assert any(t.get("meta") == "risk" for t in spec["data"])
