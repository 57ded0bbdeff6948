"""Quality of life on hand-built patients: means / CIs, change from baseline, meaningful
change and completion against an independent computation (numpy + scipy.stats.t on the
rows written here), LARS category boundaries and stoma exclusion, living with a stoma
over time; and the page (AppTest): renders, follows the filter."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import stats
from streamlit.testing.v1 import AppTest

from builders import ConStore, Registry, d, served_demo
from dashboard.figures._theme import GROUP_SHORT
from dashboard.filters import CohortFilter
from dashboard.queries.qol import (
    select_available_scales,
    select_lars_summary,
    select_scale_summary,
    select_stoma_over_time,
)
from dashboard.schema import DAYS_PER_MONTH, QOL_SCALE_INDEX
from dashboard.stats.qol import QolOptions, lars_category, mean_ci, summarize_lars, summarize_scale, summarize_stoma
from dashboard.store import Store
from dashboard.tables.qol import format_lars_table, format_scale_table, format_stoma_table

ROOT = Path(__file__).resolve().parents[1]
PAGE = str(ROOT / "pages" / "5_Quality_of_life.py")
T1 = "2022-07-01"
MONTHS = {"M3": 3, "M6": 6, "M12": 12, "M24": 24, "M36": 36}


# --------------------------------------------------------------------- hand-built registry
# (id, site, strategy, last contact / death, dead)
PATIENTS = [
    ("W1", "RECTUM", "WW", "2025-01-01", False),
    ("W2", "RECTUM", "WW", "2025-01-01", False),
    ("W3", "RECTUM", "WW", "2025-01-01", False),
    ("W4", "RECTUM", "WW", "2023-03-01", False),  # followed past M6, not to M12
    ("D1", "RECTUM", "WW", "2022-12-01", True),  # died between M3 and M6
    ("G1", "GASTRIC", "WW", "2025-01-01", False),
    ("R1", "RECTUM", "RO", "2025-01-01", False),  # LAR, temporary stoma closed 2022-12-01
    ("R2", "RECTUM", "RO", "2025-01-01", False),  # APR, permanent stoma
    ("R3", "RECTUM", "RO", "2023-09-01", False),  # LAR, no stoma
    ("X1", "RECTUM", "WW", "2025-01-01", False),  # excluded from the analysis set (not eligible)
]
# QLQ-C30 global health (higher = better) and fatigue (higher = worse): (id, timepoint) -> score
QL2 = {
    ("W1", "BASELINE"): 50, ("W1", "M3"): 66.7, ("W1", "M6"): 75, ("W1", "M12"): 58.3,
    ("W2", "BASELINE"): 83.3, ("W2", "M3"): 75, ("W2", "M6"): 66.7, ("W2", "M12"): 91.7,
    ("W3", "M3"): 100, ("W3", "M6"): 83.3,  # no baseline: in the means, not in the change
    ("W4", "BASELINE"): 66.7, ("W4", "M3"): 56.7, ("W4", "M6"): 76.7,
    ("D1", "BASELINE"): 41.7, ("D1", "M3"): 33.3,
    ("G1", "BASELINE"): 58.3, ("G1", "M3"): 68.3, ("G1", "M6"): 48.3,
    ("R1", "BASELINE"): 75, ("R1", "M3"): 50, ("R1", "M6"): 58.3, ("R1", "M12"): 66.7,
    ("R2", "BASELINE"): 66.7, ("R2", "M3"): 66.7, ("R2", "M6"): 50,
    ("R3", "M3"): 41.7,
    ("X1", "BASELINE"): 0, ("X1", "M3"): 100,
}
FA = {("W1", "BASELINE"): 22.2, ("W1", "M3"): 11.1, ("W2", "BASELINE"): 11.1, ("W2", "M3"): 33.3,
      ("W4", "BASELINE"): 33.3, ("W4", "M3"): 25.0, ("R1", "BASELINE"): 0.0, ("R1", "M3"): 44.4}
# LARS: (id, timepoint, date) -> score; R1 at M3 has the temporary stoma open, R2 a permanent one
LARS = {("W1", "M3", "2022-10-01"): 20, ("W2", "M3", "2022-10-01"): 21, ("W3", "M3", "2022-10-01"): 29,
        ("W4", "M3", "2022-10-01"): 30, ("R1", "M3", "2022-10-01"): 35, ("R2", "M3", "2022-10-01"): 10,
        ("R1", "M12", "2023-07-01"): 33, ("W1", "M12", "2023-07-01"): 0, ("W2", "M12", "2023-07-01"): 42}


def _qol_date(tp: str) -> dt.date:
    if tp == "BASELINE":
        return d("2021-12-20")
    if tp == "RESTAGING":
        return d("2022-06-15")
    return d(T1) + dt.timedelta(days=round(MONTHS[tp] * DAYS_PER_MONTH))


@pytest.fixture(scope="module")
def store():
    reg = Registry()
    for sid, site, strategy, last, dead in PATIENTS:
        pb = reg.patient(sid, site=site, last_contact=last, death=last if dead else None,
                         eligibility="PMMR_MSS" if sid == "X1" else "ELIGIBLE")
        pb.episode(strategy, T1)
        if sid == "R1":
            pb.procedure("TME_LAR", "2022-08-01", stoma="TEMPORARY", stoma_closure_date=d("2022-12-01"))
        elif sid == "R2":
            pb.procedure("TME_APR", "2022-08-01", stoma="PERMANENT")
        elif sid == "R3":
            pb.procedure("TME_LAR", "2022-08-01", stoma="NONE")
    for scale, rows in (("QL2", QL2), ("FA", FA)):
        for (sid, tp), score in rows.items():
            reg.rows["qol"].append(dict(subject_id=sid, instrument="QLQ_C30", scale=scale, timepoint=tp,
                                        qol_date=_qol_date(tp), score=float(score)))
    for (sid, tp, date), score in LARS.items():
        reg.rows["qol"].append(dict(subject_id=sid, instrument="LARS", scale="TOTAL", timepoint=tp, qol_date=d(date),
                                    score=float(score)))
    reg.rows["qol"].append(dict(subject_id="G1", instrument="QLQ_STO22", scale="EAT", timepoint="BASELINE",
                                qol_date=_qol_date("BASELINE"), score=25.0))
    con = reg.connect()
    yield ConStore(con)
    con.close()


# --------------------------------------------------------------------- independent reference
GROUP = {sid: ("NOM" if s == "WW" else "RO") for sid, _, s, _, _ in PATIENTS}
LAST = {sid: d(last) for sid, _, _, last, _ in PATIENTS}
SITE = {sid: site for sid, site, _, _, _ in PATIENTS}


def _expected(group: str, tp: str, sites=("RECTUM", "COLON", "GASTRIC", "GEJ")) -> set[str]:
    out = set()
    for sid, site, _, _, _ in PATIENTS:
        if sid == "X1" or GROUP[sid] != group or site not in sites:
            continue
        if tp in ("BASELINE", "RESTAGING") or d(T1) + dt.timedelta(days=round(MONTHS[tp] * DAYS_PER_MONTH)) <= LAST[sid]:
            out.add(sid)
    return out


def _reference(scores: dict, group: str, tp: str, higher_is_better: bool, mcid: float = 10.0) -> dict:
    ids = [s for (s, t) in scores if t == tp and GROUP[s] == group and s != "X1"]
    x = np.array([scores[(s, tp)] for s in ids], float)
    n = len(x)
    out = {"n": n, "mean": x.mean() if n else None}
    if n >= 2:
        half = stats.t.ppf(0.975, n - 1) * x.std(ddof=1) / np.sqrt(n)
        out["lower"], out["upper"] = x.mean() - half, x.mean() + half
    with_base = [s for s in ids if (s, "BASELINE") in scores]
    ch = np.array([scores[(s, tp)] - scores[(s, "BASELINE")] for s in with_base], float)
    out["n_change"] = len(ch)
    if len(ch):
        out["mean_change"] = ch.mean()
    if len(ch) >= 2:
        half = stats.t.ppf(0.975, len(ch) - 1) * ch.std(ddof=1) / np.sqrt(len(ch))
        out["change_lower"], out["change_upper"] = ch.mean() - half, ch.mean() + half
    sign = 1 if higher_is_better else -1
    out["n_improved"] = int(np.sum(sign * ch >= mcid))
    out["n_worsened"] = int(np.sum(-sign * ch >= mcid))
    exp = _expected(group, tp)
    out["n_expected"] = len(exp)
    out["n_answered"] = len([s for s in ids if s in exp])
    return out


@pytest.mark.parametrize("scale, scores, better", [("QL2", QL2, True), ("FA", FA, False)])
def test_scale_summary_matches_an_independent_computation(store, scale, scores, better):
    res = summarize_scale(select_scale_summary(store, CohortFilter(), "QLQ_C30", scale))
    assert QOL_SCALE_INDEX[("QLQ_C30", scale)].higher_is_better is better
    rows = {(r["group"], r["timepoint"]): r for r in res.iter_rows(named=True)}
    checked = 0
    for group in ("NOM", "RO"):
        for tp in ("BASELINE", "M3", "M6", "M12"):
            ref = _reference(scores, group, tp, better)
            r = rows[(group, tp)]
            assert r["n_expected"] == ref["n_expected"], (group, tp)
            assert r["n_answered"] == ref["n_answered"], (group, tp)
            assert r["completion"] == pytest.approx(ref["n_answered"] / ref["n_expected"])
            assert r["n"] == ref["n"]
            if ref["n"]:
                assert r["mean"] == pytest.approx(ref["mean"], abs=1e-9)
            if ref["n"] >= 2:
                assert (r["lower"], r["upper"]) == pytest.approx((ref["lower"], ref["upper"]), abs=1e-9)
            else:
                assert r["lower"] is None and r["upper"] is None
            if tp == "BASELINE":
                assert r["n_change"] is None and r["n_improved"] is None
                continue
            assert r["n_change"] == ref["n_change"]
            assert r["n_improved"] == ref["n_improved"] and r["n_worsened"] == ref["n_worsened"]
            if ref["n_change"]:
                assert r["mean_change"] == pytest.approx(ref["mean_change"], abs=1e-9)
                assert r["improved"] == pytest.approx(ref["n_improved"] / ref["n_change"])
                ci = stats.binomtest(ref["n_improved"], ref["n_change"]).proportion_ci(0.95, method="exact")
                assert (r["improved_lower"], r["improved_upper"]) == pytest.approx((ci.low, ci.high), abs=1e-9)
            if ref["n_change"] >= 2:
                assert (r["change_lower"], r["change_upper"]) == pytest.approx(
                    (ref["change_lower"], ref["change_upper"]), abs=1e-9)
            checked += 1
    assert checked >= 4


def test_hand_checked_numbers(store):
    """A few numbers worked out by hand, so the reference itself is checked."""
    res = summarize_scale(select_scale_summary(store, CohortFilter(), "QLQ_C30", "QL2"))
    r = res.filter((pl.col("group") == "NOM") & (pl.col("timepoint") == "M6")).row(0, named=True)
    # W1..W4 and G1 alive and followed at T1 + 6 months; D1 died before; X1 is not in the analysis set
    assert (r["n_expected"], r["n_answered"], r["n"]) == (5, 5, 5)
    # changes: W1 +25, W2 -16.6, W4 +10, G1 -10 (W3 has no baseline) -> improved W1 and W4, worsened W2 and G1
    assert (r["n_change"], r["n_improved"], r["n_worsened"]) == (4, 2, 2)
    assert r["mean_change"] == pytest.approx((25 - 16.6 + 10 - 10) / 4)
    m3 = res.filter((pl.col("group") == "NOM") & (pl.col("timepoint") == "M3")).row(0, named=True)
    assert m3["n_expected"] == 6  # D1 still alive at M3
    m12 = res.filter((pl.col("group") == "NOM") & (pl.col("timepoint") == "M12")).row(0, named=True)
    assert m12["n_expected"] == 4  # W4 last seen before T1 + 12 months, D1 dead
    fa = summarize_scale(select_scale_summary(store, CohortFilter(), "QLQ_C30", "FA"))
    f = fa.filter((pl.col("group") == "NOM") & (pl.col("timepoint") == "M3")).row(0, named=True)
    # fatigue (higher = worse): W1 -11.1 improved, W2 +22.2 worsened, W4 -8.3 neither
    assert (f["n_improved"], f["n_worsened"]) == (1, 1)


def test_site_module_expects_only_its_sites(store):
    res = select_scale_summary(store, CohortFilter(), "QLQ_STO22", "EAT")
    base = res.filter(pl.col("timepoint") == "BASELINE")
    assert base["group"].to_list() == ["NOM"] and base["n_expected"].to_list() == [1]  # G1, the gastric patient
    assert base["n_answered"].to_list() == [1]


def test_filter_applies(store):
    res = select_scale_summary(store, CohortFilter(site=("GASTRIC",)), "QLQ_C30", "QL2")
    assert set(res["group"]) == {"NOM"}
    assert res.filter(pl.col("timepoint") == "BASELINE")["n"].to_list() == [1]


def test_untrusted_scale_names_are_refused(store):
    with pytest.raises(ValueError):
        select_scale_summary(store, CohortFilter(), "QLQ_C30'; DROP TABLE qol; --", "QL2")
    with pytest.raises(ValueError):
        select_scale_summary(store, CohortFilter(), "QLQ_C30", "QL2", mcid=-1)


def test_mean_ci_is_the_t_interval():
    x = np.array([50, 66.7, 75, 58.3])
    lo, hi = mean_ci(np.array([4]), np.array([x.mean()]), np.array([x.std(ddof=1)]))
    ref = stats.t.interval(0.95, 3, loc=x.mean(), scale=stats.sem(x))
    assert (lo[0], hi[0]) == pytest.approx(ref)
    lo1, hi1 = mean_ci(np.array([1]), np.array([50.0]), np.array([np.nan]))
    assert np.isnan(lo1[0]) and np.isnan(hi1[0])
    with pytest.raises(ValueError):
        QolOptions(conf_level=1.5)


# --------------------------------------------------------------------- LARS
@pytest.mark.parametrize("score, cat", [(0, "NO_LARS"), (20, "NO_LARS"), (20.5, "MINOR"), (21, "MINOR"), (29, "MINOR"),
                                        (29.5, "MAJOR"), (30, "MAJOR"), (42, "MAJOR")])
def test_lars_category_boundaries(score, cat):
    assert lars_category(score) == cat


@pytest.mark.parametrize("bad", [-1, 43, None])
def test_lars_category_refuses_out_of_range(bad):
    with pytest.raises(ValueError):
        lars_category(bad)


def test_lars_summary_boundaries_and_stoma_exclusion(store):
    res = summarize_lars(select_lars_summary(store, CohortFilter()))
    rows = {(r["group"], r["timepoint"]): r for r in res.iter_rows(named=True)}
    nom = rows[("NOM", "M3")]
    # 20 -> no LARS, 21 and 29 -> minor, 30 -> major
    assert (nom["n"], nom["n_NO_LARS"], nom["n_MINOR"], nom["n_MAJOR"]) == (4, 1, 2, 1)
    assert nom["mean"] == pytest.approx(np.mean([20, 21, 29, 30]))
    assert nom["share_MINOR"] == pytest.approx(0.5)
    ro = rows[("RO", "M3")]
    # R1 (temporary stoma still open) and R2 (permanent stoma) are excluded
    assert (ro["n"], ro["n_excluded_stoma"]) == (0, 2)
    ro12 = rows[("RO", "M12")]  # R1 after the stoma was closed
    assert (ro12["n"], ro12["n_MAJOR"], ro12["n_excluded_stoma"]) == (1, 1, 0)
    nom12 = rows[("NOM", "M12")]
    assert (nom12["n_NO_LARS"], nom12["n_MAJOR"]) == (1, 1)
    x = np.array([0, 42.0])
    assert (nom12["lower"], nom12["upper"]) == pytest.approx(stats.t.interval(0.95, 1, loc=x.mean(), scale=stats.sem(x)))
    table = format_lars_table(res)
    assert table.height == res.height and "Major LARS (30-42)" in table.columns


# --------------------------------------------------------------------- stoma over time
def _stoma_reference(month: int) -> tuple[int, int]:
    day = d(T1) + dt.timedelta(days=round(month * DAYS_PER_MONTH))
    followed = [sid for sid in ("R1", "R2", "R3") if day <= LAST[sid]]
    with_stoma = [sid for sid in followed
                  if (sid == "R1" and d("2022-08-01") <= day < d("2022-12-01")) or (sid == "R2" and day >= d("2022-08-01"))]
    return len(followed), len(with_stoma)


def test_stoma_over_time_on_hand_built_dates(store):
    res = summarize_stoma(select_stoma_over_time(store, CohortFilter(), 1, 36))
    ro = {r["month"]: r for r in res.filter(pl.col("group") == "RO").iter_rows(named=True)}
    for month in range(0, 37):
        n, k = _stoma_reference(month)
        if n == 0:  # nobody followed that long: no row
            assert month not in ro
            continue
        assert (ro[month]["n"], ro[month]["n_stoma"]) == (n, k), month
    assert ro[0]["n_stoma"] == 0 and ro[2]["n_stoma"] == 2 and ro[6]["n_stoma"] == 1
    assert ro[15]["n"] == 2  # R3 last seen 2023-09-01 (month 14)
    nom = res.filter(pl.col("group") == "NOM")
    assert nom["n_stoma"].sum() == 0
    assert nom.filter(pl.col("month") == 0)["n"].to_list() == [6]  # X1 is not in the analysis set
    table = format_stoma_table(res)
    assert table.filter(pl.col("Strategy group") == "Radical surgery (RO)")["Month 6"].to_list() == ["1 / 3 (33%)"]


def test_available_scales(store):
    got = select_available_scales(store, CohortFilter())
    assert ("QLQ_C30", "QL2") in got and ("LARS", "TOTAL") in got and ("QLQ_CR29", "BI") not in got


def test_scale_table_formats_every_row(store):
    res = summarize_scale(select_scale_summary(store, CohortFilter(), "QLQ_C30", "QL2"))
    table = format_scale_table(res, mcid=10)
    assert table.height == res.height
    base = table.filter(pl.col("Timepoint") == "Baseline")
    assert set(base["Change from baseline (95% CI)"]) == {"reference"}


# --------------------------------------------------------------------- the page
@pytest.fixture(scope="module")
def db(tmp_path_factory):
    yield from served_demo(tmp_path_factory, "qol", 800, 61)


def _app(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=90)
    if query:
        at.query_params = query
    return at.run()


def _baseline_answered(at: AppTest) -> tuple[int, int]:
    import re

    for md in at.main.markdown:
        m = re.search(r"at baseline \*\*([\d,]+) of ([\d,]+)\*\*", md.value)
        if m:
            return int(m.group(1).replace(",", "")), int(m.group(2).replace(",", ""))
    raise AssertionError("no baseline completion line")


@pytest.mark.parametrize("query", [{}, {"section": "lars"}, {"section": "stoma"}, {"scale": "QLQ_CR29.BI"},
                                   {"scale": "QLQ_OES18.DYS", "site": "RECTUM"}, {"present": "1"}])
def test_page_renders(db, query):
    at = _app(query)
    assert not at.exception, at.exception
    if query.get("scale") == "QLQ_OES18.DYS":  # the module is for GEJ only: a message, no figure
        assert any("No EORTC QLQ-OES18 scores" in i.value for i in at.info)
    else:
        assert len(at.get("plotly_chart")) >= 1


def test_filter_changes_the_qol_n(db):
    store = Store(db)
    at = _app()
    all_n = _baseline_answered(at)
    ref = select_scale_summary(store, CohortFilter(), "QLQ_C30", "QL2").filter(pl.col("timepoint") == "BASELINE")
    assert all_n == (ref["n_answered"].sum(), ref["n_expected"].sum())
    at.multiselect(key="flt_site").set_value(["RECTUM"]).run()
    assert not at.exception
    rect = _baseline_answered(at)
    ref = select_scale_summary(store, CohortFilter(site=("RECTUM",)), "QLQ_C30", "QL2").filter(
        pl.col("timepoint") == "BASELINE")
    assert rect == (ref["n_answered"].sum(), ref["n_expected"].sum())
    assert rect[1] < all_n[1]
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert {t["name"] for t in spec["data"] if t.get("name")} <= set(GROUP_SHORT.values())
