"""Survival page: the query rules (landmark, factors), the composed analyses, and that every
number the page shows equals what dashboard.stats returns for the same filtered data
(computed here independently, straight from adtte/adsl)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from streamlit.testing.v1 import AppTest

from builders import ConStore, Registry, plotly_values, served_demo
from dashboard.filters import CohortFilter
from dashboard.queries.survival import AFTER_LANDMARK, TteRequest, select_iptw_data, select_tte, select_tte_cells
from dashboard.stats import (
    cox_model,
    cumulative_incidence,
    kaplan_meier,
    logrank_test,
    median_survival,
    propensity_weights,
    survival_at,
)
from dashboard.stats.logrank import logrank_for_sample, small_expected
from dashboard.stats.summaries import SurvivalOptions, summarize_competing, summarize_iptw, summarize_survival
from dashboard.store import Store
from dashboard.tables.survival import format_hr, format_median_ci, format_p_eq, format_pct_ci

ROOT = Path(__file__).resolve().parents[1]
PAGE = str(ROOT / "pages" / "2_Survival.py")
LABELS = {"NOM": "Watch & Wait (NOM)", "OPFS": "Local / endoscopic resection (OPFS)", "RO": "Radical surgery (RO)",
          "SYSTEMIC": "Systemic therapy only"}


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    yield from served_demo(tmp_path_factory, "surv", 800, 31)


@pytest.fixture(scope="module")
def con(db):
    c = duckdb.connect(str(db), read_only=True)
    yield c
    c.close()


def _independent(con, endpoint: str, origin: str, group_sql: str, where: str = "TRUE", extra: str = "") -> pl.DataFrame:
    """time/event/group straight from adtte + adsl (no dashboard query code)."""
    return con.sql(
        f"""SELECT t.aval AS time, CAST(1 - t.cnsr AS INTEGER) AS event,
                   coalesce({group_sql}, 'MISSING') AS "group"{extra}
            FROM adtte t JOIN adsl a USING (subject_id)
            WHERE t.paramcd = '{endpoint}' AND t.origin = '{origin}' AND {where}
            ORDER BY t.subject_id"""
    ).pl()


def _app(query: dict) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=90)
    at.query_params = query
    return at.run()


def _table(at: AppTest, columns_contain: str):
    for df in at.dataframe:
        v = df.value
        if any(columns_contain in c for c in v.columns):
            return v
    raise AssertionError(f"no table with a column containing {columns_contain!r}")


# ------------------------------------------------------------------ query rules
def _landmark_registry() -> ConStore:
    reg = Registry()
    reg.patient("A", death="2022-04-01")                                     # dies at ~3 months
    reg.patient("B", last_contact="2022-05-01", restaging="2022-04-15")      # censored at ~4 months
    reg.patient("C", death="2023-01-01", restaging="2022-06-15")             # dies at 12 months
    reg.patient("D", last_contact="2025-01-01", restaging="2022-09-15", response="NEAR_CCR")  # known after 6 months
    reg.patient("E", last_contact="2022-07-10", restaging="2022-03-01")      # 6.2 months: at risk at 6
    return ConStore(reg.connect())


def test_landmark_keeps_only_patients_at_risk_and_counts_from_the_landmark():
    store = _landmark_registry()
    full = select_tte(store, CohortFilter(), TteRequest("OS", "T0", "restaging_response")).sort("subject_id")
    lm = select_tte(store, CohortFilter(), TteRequest("OS", "LANDMARK", "restaging_response", landmark=6.0))
    lm = lm.sort("subject_id")
    # A (event before 6) and B (censored before 6) are gone; E (followed to 6.2 months) stays
    kept = full.filter(pl.col("time") > 6.0)
    assert lm.get_column("subject_id").to_list() == kept.get_column("subject_id").to_list() == ["C", "D", "E"]
    assert lm.get_column("time").to_list() == pytest.approx([t - 6.0 for t in kept.get_column("time").to_list()])
    assert lm.get_column("event").to_list() == kept.get_column("event").to_list() == [1, 0, 0]
    # groups are what was known at the landmark: D's restaging (8.5 months) came later
    assert dict(lm.select("subject_id", "group").iter_rows()) == {"C": "CCR", "D": AFTER_LANDMARK, "E": "CCR"}
    # from T0 the factor is taken as recorded (the page warns about immortal time)
    assert dict(full.select("subject_id", "group").iter_rows())["D"] == "NEAR_CCR"


def test_request_is_validated():
    with pytest.raises(ValueError):
        TteRequest("OS", "INDEX")  # OS has no INDEX origin
    with pytest.raises(ValueError):
        TteRequest("OS", "T1", "age; DROP TABLE adsl")
    with pytest.raises(ValueError):
        TteRequest("OS", "LANDMARK", landmark=0)
    TteRequest("DFS", "INDEX")


def test_select_tte_equals_adtte_under_the_filter(db, con):
    flt = CohortFilter(site=("RECTUM", "COLON"), age=(30, 75))
    got = select_tte(Store(db), flt, TteRequest("EFS", "T1", "initial_group"))
    want = _independent(con, "EFS", "T1", "a.initial_group",
                        "a.tumour_site IN ('RECTUM', 'COLON') AND a.age BETWEEN 30 AND 75")
    assert got.select("time", "event", "group").equals(want)


def test_regrowth_events_and_competing_types(db, con):
    got = select_tte(Store(db), CohortFilter(), TteRequest("RG", "T1"))
    want = con.sql("SELECT evnt_type, count(*) AS n FROM adtte WHERE paramcd = 'RG' AND origin = 'T1' "
                   "AND cnsr = 0 GROUP BY ALL").pl()
    counts = dict(got.group_by("event_type").len().iter_rows())
    assert counts["REGROWTH"] == dict(want.iter_rows())["REGROWTH"] == got.get_column("event").sum()
    assert counts["COMPETING"] == dict(want.iter_rows())["COMPETING"]


@pytest.mark.parametrize("req", [
    TteRequest("OS", "T1", "initial_group", ("age", "sex", "ecog")),
    TteRequest("DFS", "LANDMARK", "restaging_response", ("tumour_site",), landmark=6.0),
    TteRequest("RG", "T1", "tumour_site"),
])
def test_cells_are_the_patients_collapsed(db, req):
    """The survival pages read cells (select_tte_cells, freq="n"): the same patients, and
    every summary equals the one on the patient rows."""
    store, flt = Store(db), CohortFilter(site=("RECTUM", "COLON", "GASTRIC"))
    patients = select_tte(store, flt, req).drop("subject_id")
    cells = select_tte_cells(store, flt, req)
    keys = list(patients.columns)
    assert int(cells["n"].sum()) == patients.height
    # times are in days / DAYS_PER_MONTH, so without age patients share cells even at n = 800
    assert cells.height < patients.height or "age" in req.covariates
    again = patients.group_by(keys).agg(pl.len().alias("n")).sort(keys, nulls_last=False)
    assert cells.sort(keys, nulls_last=False).equals(again.select(cells.columns))
    opts = SurvivalOptions(reference="RO" if "group" in req.factor else None, adjust=req.covariates)
    a = summarize_survival(patients, opts)
    b = summarize_survival(cells, opts, freq="n")
    for x, y in [(a.km_, b.km_), (a.median_, b.median_), (a.at_times_, b.at_times_), (a.groups_, b.groups_)]:
        assert_frame_equal(x, y, check_exact=False, rel_tol=1e-10, abs_tol=1e-13)
    assert b.logrank_.statistic == pytest.approx(a.logrank_.statistic, rel=1e-10)
    for fa, fb in [(a.cox_, b.cox_), (a.cox_adjusted_, b.cox_adjusted_)]:
        if fa is None:
            assert fb is None
            continue
        assert (fa.n, fa.note) == (fb.n, fb.note)
        assert_frame_equal(fa.table, fb.table, check_exact=False, rel_tol=1e-8)
    if req.endpoint == "RG":
        ca, cb = summarize_competing(patients), summarize_competing(cells, freq="n")
        assert_frame_equal(ca.cif_, cb.cif_, check_exact=False, rel_tol=1e-10, abs_tol=1e-13)
        assert ca.groups_.equals(cb.groups_)


# ------------------------------------------------------------------ analyses
def test_summary_uses_the_statistics_layer(db, con):
    df = _independent(con, "OS", "T1", "a.initial_group", extra=", CAST(a.age AS DOUBLE) AS age")
    s = summarize_survival(df, SurvivalOptions(reference="RO", adjust=("age",)))
    km = kaplan_meier(df, "time", "event", group="group")
    assert s.km_.equals(km)
    assert s.median_.equals(median_survival(km))
    # the chi-square test, or the permutation test when a group expects fewer than 5 events
    assert s.logrank_.p_value == logrank_for_sample(df, "time", "event", "group").p_value
    if not small_expected(logrank_test(df, "time", "event", "group")):
        assert s.logrank_.p_value == logrank_test(df, "time", "event", "group").p_value
    cox = cox_model(df, "time", "event", ["group", "age"], reference={"group": "RO"}).table
    nom = s.cox_adjusted_.table.filter(pl.col("term") == "NOM").row(0, named=True)
    assert nom["hr"] == pytest.approx(cox.filter(pl.col("term") == "group=NOM")["hr"][0], rel=1e-12)


def test_iptw_improves_balance_on_the_demo(db):
    covs = ("age", "sex", "ecog", "tumour_site", "ct", "cn", "regimen_class")
    df = select_iptw_data(Store(db), CohortFilter(), "OS", covs)
    res = summarize_iptw(df, covs)
    before = res.balance_.get_column("smd_before").abs()
    after = res.balance_.get_column("smd_after").abs()
    assert after.max() < before.max()
    assert after.mean() < before.mean()
    assert after.mean() < 0.1
    # the weights are those of the statistics layer
    pw = propensity_weights(df, "treated", list(covs))
    assert res.weights_.get_column("weight").to_list() == pytest.approx(pw.get_column("weight").to_list())


# ------------------------------------------------------------------ the page (AppTest)
def test_page_numbers_equal_the_statistics_layer(db, con):
    query = {"endpoint": "OS", "origin": "T1", "by": "initial_group", "cohort": "RETRO"}
    at = _app(query)
    assert not at.exception, at.exception
    df = _independent(con, "OS", "T1", "a.initial_group", "a.cohort = 'RETRO'")
    km = kaplan_meier(df, "time", "event", group="group", conf_type="log-log")
    med = {r["group"]: r for r in median_survival(km).iter_rows(named=True)}
    at12 = {(r["group"], r["time"]): r for r in survival_at(km, [12, 24, 36]).iter_rows(named=True)}
    table = _table(at, "Median")
    shown = {row["Group"]: row for row in table.to_dict("records")}
    for g in df.get_column("group").unique().to_list():
        row = shown[LABELS[g]]
        n = df.filter(pl.col("group") == g)
        assert row["Patients"] == f"{n.height:,}" and row["Events"] == f"{n['event'].sum():,}"
        m = med[g]
        assert row["Median, months (95% CI)"] == format_median_ci(m["median"], m["lower"], m["upper"])
        for t in (12, 24, 36):
            r = at12.get((g, float(t)))
            if r is not None:
                assert row[f"{t} months (95% CI)"] == format_pct_ci(r["survival"], r["lower"], r["upper"])
    lr = logrank_for_sample(df, "time", "event", "group")
    md = " ".join(m.value for m in at.markdown)
    from dashboard.queries.survival import FACTORS
    from dashboard.ui.survival import logrank_text
    assert logrank_text(lr, FACTORS["initial_group"].label_of) in md
    if not small_expected(lr):
        assert f"χ² = {lr.statistic:.2f}, df = {lr.df}, {format_p_eq(lr.p_value)}" in md
    cox = cox_model(df, "time", "event", ["group"], reference={"group": "RO"}).table
    hr = {r["Comparison"]: r for r in _table(at, "HR (95% CI)").to_dict("records")}
    nom = cox.filter(pl.col("term") == "group=NOM").row(0, named=True)
    assert hr[f"{LABELS['NOM']} vs {LABELS['RO']}"]["HR (95% CI), unadjusted"] == format_hr(
        nom["hr"], nom["lower"], nom["upper"])

    # adjusted for covariates the user picks
    at.expander[0]  # the options expander exists
    at.multiselect(key="surv_adjust").set_value(["age", "sex"]).run()
    assert not at.exception
    dfa = _independent(con, "OS", "T1", "a.initial_group", "a.cohort = 'RETRO'",
                       ", CAST(a.age AS DOUBLE) AS age, coalesce(a.sex, 'MISSING') AS sex")
    adj = cox_model(dfa, "time", "event", ["group", "age", "sex"], reference={"group": "RO"}).table
    a = adj.filter(pl.col("term") == "group=NOM").row(0, named=True)
    hr = {r["Comparison"]: r for r in _table(at, "HR (95% CI)").to_dict("records")}
    assert hr[f"{LABELS['NOM']} vs {LABELS['RO']}"]["HR (95% CI), adjusted"] == format_hr(a["hr"], a["lower"], a["upper"])

    # the figure is drawn from the same KM table: full width while at least max(5, 10% of
    # the group) remain at risk, then a thin tail to the last time (nothing is cut by default)
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    line = next(t for t in spec["data"] if t.get("name", "").startswith(LABELS["NOM"] + " (n="))
    tail = next(t for t in spec["data"] if t.get("name", "") == line["name"] + " (few at risk)")
    n_nom = df.filter(pl.col("group") == "NOM").height
    want = km.filter((pl.col("group") == "NOM") & (pl.col("time") <= max(spec["layout"]["xaxis"]["tickvals"])))
    ok = [i for i, v in enumerate(want["n_risk"].to_list()) if v >= max(5, 0.1 * n_nom)]
    head = want.head(max(ok) + 1)
    x, y = plotly_values(line["x"]), plotly_values(line["y"])
    # only the points where the step curve changes are sent (issue 18): the drawn step
    # function (shape hv) at every time of the table is the estimate there
    def drawn(xs, ys, at):
        return [ys[max(i for i, v in enumerate(xs) if v <= t)] for t in at]

    assert line["line"]["shape"] == "hv"
    assert drawn(x, y, head["time"].to_list()) == pytest.approx([100 * v for v in head["survival"].to_list()])
    assert x[-1] == pytest.approx(head["time"][-1])  # the full part ends where the tail starts
    assert y[0] == 100 and x[0] == 0
    tx, ty = plotly_values(tail["x"]), plotly_values(tail["y"])
    assert tx[0] == x[-1] and ty[0] == y[-1]  # the tail continues the curve
    rest = want.slice(max(ok) + 1)
    assert drawn(tx, ty, rest["time"].to_list()) == pytest.approx([100 * v for v in rest["survival"].to_list()])
    assert tx[-1] == pytest.approx(want["time"][-1])  # to the last time
    assert tail["line"]["width"] < line["line"]["width"]
    assert line["name"] == f"{LABELS['NOM']} (n={n_nom:,})"
    # the at-risk row at month 0 shows every patient of the group
    risk = next(t for t in spec["data"] if t.get("name") == f"at risk: {LABELS['NOM']}")
    assert risk["text"][0] == f"{n_nom:,}"


def test_immortal_time_and_landmark_warnings(db):
    at = _app({"endpoint": "OS", "origin": "T0", "by": "restaging_response"})
    assert not at.exception
    assert any("Immortal-time bias" in w.value for w in at.warning)
    at = _app({"endpoint": "OS", "origin": "LANDMARK", "landmark": "12", "by": "restaging_response"})
    assert not at.exception
    assert not any("Immortal-time bias" in w.value for w in at.warning)
    assert any("Landmark at 12 months" in c.value for c in at.caption)
    at = _app({"endpoint": "OS", "origin": "T1", "by": "tumour_site"})
    assert not any("Immortal-time bias" in w.value for w in at.warning)


def test_small_groups_are_flagged(db):
    at = _app({"endpoint": "OS", "origin": "T1", "by": "initial_strategy", "site": "GEJ"})
    assert not at.exception
    assert any("Small groups" in w.value for w in at.warning)


def test_competing_risks_view_matches_aalen_johansen(db, con):
    at = _app({"view": "cif", "by": "none"})
    assert not at.exception, at.exception
    df = con.sql("""SELECT aval AS time, CASE WHEN cnsr = 1 THEN 'CENSORED' ELSE evnt_type END AS et,
                           'ALL' AS "group" FROM adtte WHERE paramcd = 'RG' AND origin = 'T1'""").pl()
    cif = cumulative_incidence(df, "time", "et", "REGROWTH", censor_code="CENSORED")
    row = _table(at, "Regrowth, 12 months").to_dict("records")[0]
    for t in (12, 24):
        r = cif.filter(pl.col("time") <= t).tail(1).row(0, named=True)
        assert row[f"Regrowth, {t} months"] == format_pct_ci(r["cif"], r["lower"], r["upper"])
    assert row["Regrowths"] == f"{(df['et'] == 'REGROWTH').sum():,}"


def test_iptw_view_shows_the_weighted_hazard_ratio(db):
    at = _app({"view": "iptw", "endpoint": "OS"})
    assert not at.exception, at.exception
    covs = ["age", "sex", "ecog", "tumour_site", "ct", "cn", "regimen_class"]
    df = select_iptw_data(Store(db), CohortFilter(), "OS", tuple(covs))
    w = propensity_weights(df, "treated", covs)
    d = df.with_columns(w["weight"].alias("w"))
    cox = cox_model(d, "time", "event", ["group"], weights="w", reference={"group": "RO"}).table.row(0, named=True)
    md = " ".join(m.value for m in at.markdown)
    assert f"weighted {format_hr(cox['hr'], cox['lower'], cox['upper'])}" in md
    assert len(at.get("plotly_chart")) == 3  # weighted KM, balance, weights


@pytest.mark.parametrize("endpoint, origin", [("OPS", "T0"), ("DFS", "INDEX"), ("DFS_STRICT", "T1"), ("LR", "INDEX"),
                                              ("DMFS", "T1"), ("RG", "T0")])
def test_every_endpoint_renders(db, endpoint, origin):
    at = _app({"endpoint": endpoint, "origin": origin, "by": "tumour_site"})
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) == 1
    assert re.search(r"\d", _table(at, "Median").to_dict("records")[0]["Patients"])


def test_censor_ticks_only_where_they_stay_readable():
    """Up to CENSOR_MARKS_MAX censoring times a curve gets its ticks; beyond, ticks would
    merge into a band over the curve, so none are drawn (the caption says so)."""
    from dashboard.figures.km import CENSOR_MARKS_MAX, CurveSpec, step_figure

    def curve(n_censor_times: int) -> CurveSpec:
        t = [float(i + 1) for i in range(n_censor_times)]
        data = pl.DataFrame({"time": t, "estimate": [1.0] * len(t), "lower": [1.0] * len(t), "upper": [1.0] * len(t),
                             "n_risk": [float(n_censor_times - i) for i in range(len(t))], "n_censor": [1.0] * len(t)})
        return CurveSpec("a", "A", "#000000", data)

    def marks(fig) -> int:
        return sum(1 for tr in fig.data if tr.name == "A censored")

    grid = [0.0, 500.0]
    assert marks(step_figure([curve(CENSOR_MARKS_MAX)], [], x_title="x", y_title="y", grid=grid)) == 1
    assert marks(step_figure([curve(CENSOR_MARKS_MAX + 1)], [], x_title="x", y_title="y", grid=grid)) == 0


def test_logrank_p_and_median_lines_on_the_plot_when_asked(db, con):
    """``pplot=1`` writes the log-rank p (the one under the estimates) on the figure, and
    ``medians=1`` draws the 50% guide with a drop line at each median reached; both stay
    in the link. The medians are checked against lifelines (first time S(t) <= 0.5)."""
    from lifelines import KaplanMeierFitter

    query = {"endpoint": "OPS", "origin": "T1", "by": "restaging_response"}  # non-cCR falls below 50%
    plain = _app(query)
    spec = json.loads(plain.get("plotly_chart")[0].proto.spec)
    assert not [a for a in spec["layout"].get("annotations", []) if a.get("name") == "p"]
    assert not spec["layout"].get("shapes")

    at = _app({**query, "pplot": "1", "medians": "1"})
    assert not at.exception
    assert at.query_params.get("pplot") in ("1", ["1"]) and at.query_params.get("medians") in ("1", ["1"])
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    p_note = [a["text"] for a in spec["layout"]["annotations"] if a.get("name") == "p"]
    logrank = next(m.value for m in at.markdown if m.value.startswith("**Log-rank test"))
    assert len(p_note) == 1 and p_note[0].startswith("Log-rank")
    p_text = re.search(r"p [=<] [0-9.]+", p_note[0]).group(0)
    assert p_text in logrank  # the same p as under the estimates
    assert ("permutation" in p_note[0]) == ("permutation" in logrank)  # and the same test

    df = _independent(con, "OPS", "T1", "a.restaging_response")
    medians = []
    for _g, part in df.group_by("group"):
        kmf = KaplanMeierFitter().fit(part["time"].to_numpy(), part["event"].to_numpy())
        if np.isfinite(kmf.median_survival_time_):
            medians.append(float(kmf.median_survival_time_))
    shapes = spec["layout"]["shapes"]
    drops = sorted(s["x0"] for s in shapes if s["x0"] == s["x1"])
    assert medians and drops == pytest.approx(sorted(medians))
    across = [s for s in shapes if s["y0"] == s["y1"] == 50]
    assert len(across) == 1 and across[0]["x1"] == pytest.approx(max(medians))
