"""One patient's course as swim-lanes on a time axis in months from the first
immunotherapy dose (T0), and the patient against comparable patients (Kaplan-Meier organ
preservation, cumulative incidence of regrowth). Pure: frames in, figures out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from ..schema import (
    AE_ATTRIBUTION,
    CLAVIEN_DINDO,
    DAYS_PER_MONTH,
    EXAM_RESULT,
    MODALITY,
    ONC_EVENT,
    PROCEDURE_TYPE,
    QOL_SCALE_INDEX,
    QOL_TIMEPOINT,
    RESPONSE,
    STOMA,
    STRATEGY,
    TRIGGER,
    VOCABULARIES,
)
from ..i18n import N_, _, fmt_int, ngettext, pgettext
from ._theme import FONT, OKABE_ITO, RESPONSE_COLOURS, STRATEGY_COLOURS, rgba, white_template

RESULT_COLOURS = {"NED": OKABE_ITO["bluish_green"], "EQUIVOCAL": OKABE_ITO["orange"], "TUMOUR": OKABE_ITO["vermillion"],
                  "NOT_EVALUABLE": OKABE_ITO["grey"], None: "#cccccc"}
MODALITY_SYMBOL = {"ENDOSCOPY": "circle", "MRI": "square", "CT": "triangle-up", "PET_CT": "triangle-down",
                   "EUS": "pentagon", "DRE": "star", "BIOPSY": "diamond", "CTDNA": "hexagon", "CEA": "cross"}
GRADE_COLOURS = {1: "#fdd835", 2: "#fb8c00", 3: "#e53935", 4: "#8e24aa", 5: "#212121"}
CD_SEVERE = ("IIIA", "IIIB", "IVA", "IVB", "V")
EVENT_COLOURS = {"LOCAL_REGROWTH": "#ef6c00", "LOCAL_RECUR": "#d84315", "NODAL": "#c62828", "DISTANT": "#b71c1c",
                 "PROGRESSION": "#6a1b9a", "SECOND_PRIMARY": "#455a64"}
STRATEGY_SHORT = {"WW": N_("Watch & Wait"), "LE": N_("Local excision"), "ESD": "ESD", "EMR": "EMR",
                  "RO": N_("Radical surgery"), "SYSTEMIC": N_("Systemic therapy")}
# Lanes top to bottom: (key, label; English, shown through _()). Exams other than endoscopy / MRI share one lane.
LANES = (("ici", N_("Immunotherapy")), ("strategy", N_("Strategy")), ("response", N_("Clinical response")),
         ("endoscopy", N_("Endoscopy")), ("mri", "MRI"), ("other", N_("Other exams")), ("procedure", N_("Procedures")),
         ("stoma", N_("Stoma")), ("ae", N_("Adverse events")), ("event", N_("Oncological events")),
         ("qol", N_("Questionnaires")))
MODALITY_LANE = {"ENDOSCOPY": "endoscopy", "MRI": "mri"}


def months_between(origin: dt.date, d: dt.date | None) -> float | None:
    """Months (``DAYS_PER_MONTH`` days) from ``origin`` to ``d``; None when ``d`` is None."""
    return None if d is None else (d - origin).days / DAYS_PER_MONTH


def _code(vocab: str, code: str | None, default: str = "-") -> str:
    """The label of a recorded code in the current language (``default`` when empty)."""
    if not code:
        return default
    v = VOCABULARIES.get(vocab)
    return v.label(code) if v is not None else str(code).lower().replace("_", " ")


def _date(d: dt.date | None) -> str:
    return "-" if d is None else d.isoformat()


def _lanes_with_content(record, due: pl.DataFrame | None) -> set[str]:
    """Lanes that will hold something for this record (empty lanes are not drawn)."""
    a = record.assessments
    mods = set(a["modality"].to_list()) | (set(due["modality"].to_list()) if due is not None else set())
    out = {MODALITY_LANE.get(m, "other") for m in mods}
    for lane, frame in (("ici", record.ici), ("strategy", record.episodes), ("procedure", record.procedures),
                        ("ae", record.aes), ("event", record.events), ("qol", record.qol)):
        if frame.height:
            out.add(lane)
    if a.filter(pl.col("overall_response").is_not_null()).height:
        out.add("response")
    if record.procedures.height and record.procedures["stoma"].is_in(["TEMPORARY", "PERMANENT"]).any():
        out.add("stoma")
    return out


def timeline_figure(record, due: pl.DataFrame | None = None, *, height: int | None = None) -> go.Figure:
    """Swim-lane timeline of one patient.

    Parameters
    ----------
    record : :class:`dashboard.queries.patient.PatientRecord`
    due : rows of :func:`dashboard.stats.surveillance.estimate_next_exams` for this patient
        (next endoscopy / MRI due; overdue ones flagged in red), or None.

    The x axis is months from T0 (first immunotherapy dose; from registration when there
    was none); every point's hover gives its date and details.
    """
    p = record.row
    origin = p["t0"] or p["restaging_date"] or p["t1"] or p["last_contact_date"]
    from_origin = (_("Months from the first immunotherapy dose (T0), {date}") if p["t0"]
                   else _("Months from the first recorded date, {date}"))
    end = p["last_contact_date"]
    m = lambda d: months_between(origin, d)  # noqa: E731
    used: set[str] = set()
    lanes = [k for k in (k for k, _ in LANES) if k in _lanes_with_content(record, due)]
    y = {k: len(lanes) - i for i, k in enumerate(lanes)}
    ql2 = record.qol.filter((pl.col("instrument") == "QLQ_C30") & (pl.col("scale") == "QL2"))
    rows = 2 if ql2.height else 1
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        row_heights=[0.78, 0.22] if rows == 2 else [1.0])

    def bar(lane: str, x0: float, x1: float, colour: str, text: str, hover: str, width: float = 0.5,
            dy: float = 0.0, opacity: float = 0.85) -> None:
        used.add(lane)
        yc = y[lane] + dy
        fig.add_trace(go.Scatter(
            x=[x0, x1, x1, x0, x0], y=[yc - width / 2, yc - width / 2, yc + width / 2, yc + width / 2, yc - width / 2],
            fill="toself", fillcolor=rgba(colour, opacity), line=dict(color=colour, width=1), mode="lines",
            hovertext=hover, hoverinfo="text", hoveron="fills", showlegend=False), row=1, col=1)
        if text:
            fig.add_trace(go.Scatter(x=[x0], y=[yc], mode="text", text=[" " + text], textposition="middle right",
                                     textfont=dict(size=11, color="#1f2933"), hoverinfo="skip", showlegend=False,
                                     meta={"bar": [x0, x1]}), row=1, col=1)

    def points(lane: str, xs, colours, hovers, symbol="circle", size=10, texts=None, dys=None,
               line_colour="#ffffff", textposition="top center") -> None:
        if not xs:
            return
        used.add(lane)
        fig.add_trace(go.Scatter(
            x=xs, y=[y[lane] + (dys[i] if dys else 0) for i in range(len(xs))],
            mode="markers+text" if texts else "markers", text=texts, textposition=textposition,
            textfont=dict(size=10, color="#333"),
            marker=dict(color=colours, symbol=symbol, size=size, line=dict(color=line_colour, width=1)),
            hovertext=hovers, hoverinfo="text", showlegend=False), row=1, col=1)

    # immunotherapy
    for r in record.ici.iter_rows(named=True):
        x0, x1 = m(r["start_date"]), m(r["end_date"] or r["start_date"])
        cycles = (ngettext("{n} cycle", "{n} cycles", r["cycles"]).format(n=r["cycles"]) if r["cycles"]
                  else _("? cycles"))
        stop = _code("ici_stop", r["stop_reason"], _("not recorded"))
        bar("ici", x0, max(x1, x0 + 0.15), "#1565c0", f"{r['drugs']}, {cycles}",
            f"{r['drugs']} ({r['regimen_class']})<br>"
            + _("{start} to {end}").format(start=_date(r["start_date"]), end=_date(r["end_date"])) + "<br>"
            + _("{cycles}; ended: {reason}").format(cycles=cycles, reason=stop))
    # strategy episodes: each lasts until the next one starts (or last contact)
    eps = record.episodes.rows(named=True)
    for i, r in enumerate(eps):
        stop = eps[i + 1]["start_date"] if i + 1 < len(eps) else end
        x0, x1 = m(r["start_date"]), m(max(stop, r["start_date"]))
        code = r["strategy"]
        bar("strategy", x0, max(x1, x0 + 0.15), STRATEGY_COLOURS.get(code, "#777"),
            _(STRATEGY_SHORT[code]) if code in STRATEGY_SHORT else code,
            _("Episode {k}: {strategy}<br>decided {decided}, started {started}<br>trigger: {trigger}").format(
                k=r["episode_no"], strategy=STRATEGY.label(r["strategy"]), decided=_date(r["decision_date"]),
                started=_date(r["start_date"]), trigger=TRIGGER.label(r["trigger"])))
    # assessments
    a = record.assessments
    resp = a.filter(pl.col("overall_response").is_not_null())
    points("response", [m(d) for d in resp["assessment_date"]],
           [RESPONSE_COLOURS.get(c, "#777") for c in resp["overall_response"]],
           [f"{_date(r['assessment_date'])} ({_code('assessment_timepoint', r['timepoint'])}): "
            f"{RESPONSE.label(r['overall_response'])}"
            for r in resp.iter_rows(named=True)], symbol="circle", size=11,
           texts=[RESPONSE.label(c) if i == 0 or c != resp["overall_response"][i - 1] else None
                  for i, c in enumerate(resp["overall_response"])])
    for lane in ("endoscopy", "mri", "other"):
        sub = a.filter(pl.col("modality").replace_strict(MODALITY_LANE, default="other") == lane)
        points(lane, [m(d) for d in sub["assessment_date"]], [RESULT_COLOURS.get(c, "#bdbdbd") for c in sub["result"]],
               [f"{_date(r['assessment_date'])}: {MODALITY.label(r['modality'])} "
                f"({_code('assessment_timepoint', r['timepoint'])})<br>"
                f"{EXAM_RESULT.label(r['result']) if r['result'] else _('result not recorded')}"
                for r in sub.iter_rows(named=True)],
               symbol=[MODALITY_SYMBOL.get(c, "circle") for c in sub["modality"]], size=9)
    due_xs: list[float] = []
    if due is not None:
        for r in due.iter_rows(named=True):
            lane = MODALITY_LANE.get(r["modality"], "other")
            late = r["overdue"]
            x = m(r["due_date"])
            due_xs.append(x)
            hover = (_("Next {exam} due {due} (last {last} + {months} months)").format(
                         exam=MODALITY.label(r["modality"]), due=_date(r["due_date"]), last=_date(r["last_exam_date"]),
                         months=f"{r['interval_months']:g}") + "<br>"
                     + (_("<b>OVERDUE</b> by {days} days at the data cut-off {cutoff}").format(
                         days=r["days_overdue"], cutoff=_date(r["data_cutoff"]))
                        if late else _("not overdue at the data cut-off")))
            points(lane, [x], ["#ffffff"], [hover], symbol="circle-open" if not late else "x-thin-open", size=13,
                   line_colour="#c62828" if late else "#607d8b",
                   texts=[_("overdue {days} d").format(days=r["days_overdue"]) if late else _("next due")],
                   textposition="middle right")
            fig.data[-1].marker.line.width = 2.5
            fig.data[-1].marker.color = "#c62828" if late else "#607d8b"
            fig.data[-1].textfont.color = "#c62828" if late else "#607d8b"
    # procedures and stoma periods
    for r in record.procedures.iter_rows(named=True):
        cd = r["clavien_dindo"]
        colour = "#c62828" if cd in CD_SEVERE else ("#ef6c00" if cd not in (None, "NONE") else "#546e7a")
        label = PROCEDURE_TYPE.label(r["procedure_type"]).split(" (")[0]
        cd_text = _("no complication") if cd in (None, "NONE") else f"Clavien-Dindo {CLAVIEN_DINDO.label(cd)}"
        extra = ("; " + _code("complication", r["complication"]) if r["complication"] not in (None, "NONE") else "")
        if r["leak_grade"] not in (None, "NONE", "NA"):
            extra += "; " + _("leak grade {grade}").format(grade=r["leak_grade"])
        stoma_text = STOMA.label(r["stoma"]) if r["stoma"] else _("not recorded")
        stoma_text = stoma_text.lower() if stoma_text.isascii() else stoma_text
        stay = r["length_of_stay_days"] if r["length_of_stay_days"] is not None else "-"
        points("procedure", [m(r["procedure_date"])], [colour],
               [f"{_date(r['procedure_date'])}: {PROCEDURE_TYPE.label(r['procedure_type'])} "
                f"({_code('procedure_intent', r['intent'])})<br>"
                + _("approach {approach}, margin {margin}").format(approach=_code("approach", r["approach"]),
                                                                    margin=r["r_status"] or "-")
                + f"<br>{cd_text}{extra}<br>"
                + _("stoma: {stoma}; stay {days} days").format(stoma=stoma_text, days=stay)],
               symbol="diamond", size=13, texts=[f"{label}" + ("" if cd in (None, "NONE") else f" (CD {CLAVIEN_DINDO.label(cd)})")],
               textposition="top right")
        if r["stoma"] in ("TEMPORARY", "PERMANENT"):
            closed = r["stoma_closure_date"] if r["stoma"] == "TEMPORARY" else None
            x1 = m(closed or end)
            kind = _("temporary stoma") if r["stoma"] == "TEMPORARY" else _("permanent stoma")
            bar("stoma", m(r["procedure_date"]), max(x1, m(r["procedure_date"]) + 0.15), "#8d6e63",
                _("{stoma}, closed {date}").format(stoma=kind, date=_date(closed)) if closed else kind,
                (_("{stoma} from {start} to {end}").format(stoma=STOMA.label(r["stoma"]), start=_date(r["procedure_date"]),
                                                          end=_date(closed)) if closed else
                 _("{stoma} from {start} (not closed by last contact)").format(stoma=STOMA.label(r["stoma"]),
                                                                              start=_date(r["procedure_date"]))),
                width=0.35)
    # adverse events: bars onset -> resolution, stacked a little within the lane
    aes = record.aes.rows(named=True)
    for i, r in enumerate(aes):
        dy = ((i % 3) - 1) * 0.22
        x0 = m(r["onset_date"])
        x1 = m(r["resolution_date"] or end)
        colour = GRADE_COLOURS.get(r["grade"], "#777")
        attribution = AE_ATTRIBUTION.label(r["attribution"])
        flags = [w for w, on in ((_("immune-related"), r["immune_related"]), (_("serious"), r["serious"]),
                                 (_("steroids"), r["steroids"])) if on]
        hover = (_("{term} - grade {grade}").format(term=r["term"], grade=r["grade"]) + "<br>"
                 + _("{start} to {end}").format(start=_date(r["onset_date"]), end=_date(r["resolution_date"])
                                                if r["resolution_date"] else _("not resolved")) + "<br>"
                 + _("attributed to {cause}").format(cause=attribution.lower() if attribution.isascii() else attribution)
                 + "".join(pgettext("list separator", ", ") + f for f in flags))
        bar("ae", x0, max(x1, x0 + 0.15), colour, "", hover, width=0.18, dy=dy, opacity=0.9)
        points("ae", [x0], [colour], [hover], symbol="circle", size=12, texts=[f"G{r['grade']} {r['term']}"],
               dys=[dy], textposition="middle right")
    # oncological events
    ev = record.events
    points("event", [m(d) for d in ev["event_date"]], [EVENT_COLOURS.get(c, "#333") for c in ev["event_type"]],
           [f"{_date(r['event_date'])}: {ONC_EVENT.label(r['event_type'])}"
            f"{' (' + _code('regrowth_site', r['regrowth_site']) + ')' if r['regrowth_site'] else ''}; "
            + _("confirmed by {how}").format(how=_code("confirmation", r["confirmation"], _("not recorded")))
            + ("; " + _("salvaged by procedure {k}").format(k=r["salvage_procedure_no"])
               if r["salvage_procedure_no"] else "")
            for r in ev.iter_rows(named=True)], symbol="x", size=13,
           texts=[ONC_EVENT.label(c).split(" (")[0] for c in ev["event_type"]], textposition="top right")
    # questionnaires: one point per date, the scores in the hover
    if record.qol.height:
        by_date = record.qol.group_by("qol_date", maintain_order=True).agg(pl.all())
        hovers = []
        for r in by_date.iter_rows(named=True):
            lines = [f"{_date(r['qol_date'])} - {QOL_TIMEPOINT.label(r['timepoint'][0])}"]
            for inst, sc, score in zip(r["instrument"], r["scale"], r["score"]):
                s = QOL_SCALE_INDEX.get((inst, sc))
                lines.append(f"{inst.replace('_', '-')} {s.label if s else sc}: {score:.0f}")
            hovers.append("<br>".join(lines[:14]) + ("<br>..." if len(lines) > 14 else ""))
        points("qol", [m(d) for d in by_date["qol_date"]], ["#5e35b1"] * by_date.height, hovers, symbol="square",
               size=9)
    # QoL panel: global health
    if rows == 2:
        fig.add_trace(go.Scatter(x=[m(d) for d in ql2["qol_date"]], y=ql2["score"].to_list(), mode="lines+markers",
                                 line=dict(color="#5e35b1", width=2), marker=dict(size=7), showlegend=False,
                                 hovertext=[_("{date}: global health {score}").format(date=_date(d), score=f"{s:.0f}")
                                            for d, s in zip(ql2["qol_date"], ql2["score"])],
                                 hoverinfo="text"), row=2, col=1)
        fig.update_yaxes(range=[0, 105], title_text=_("Global health<br>(QLQ-C30)"), title_font=dict(size=11),
                         tickvals=[0, 50, 100], row=2, col=1)
    # reference lines
    marks = [(m(p["t1"]), _("T1 decision"), "#455a64")] if p["t1"] else []
    if p["organ_lost_date"]:
        marks.append((m(p["organ_lost_date"]), _("organ removed"), "#c62828"))
    marks.append((m(end), _("death") if p["vital_status"] == "DEAD" else _("last contact"),
                  "#212121" if p["vital_status"] == "DEAD" else "#607d8b"))
    if p["data_cutoff"] and p["data_cutoff"] != end and p["vital_status"] != "DEAD":
        marks.append((m(p["data_cutoff"]), _("data cut-off"), "#9e9e9e"))
    span = max([x for x, _, _ in marks] + [1.0]) + 1
    previous = None
    for x, text, colour in sorted(marks):
        fig.add_vline(x=x, line=dict(color=colour, width=1.2, dash="dash"))
        # labels of lines close together go right / left of their line so they do not overlap
        close = previous is not None and x - previous < 0.06 * span
        fig.add_annotation(x=x, y=1.0, yref="paper", text=text, showarrow=False, yanchor="bottom",
                           font=dict(size=11, color=colour), xanchor="left" if close else "center")
        if close:
            fig.layout.annotations[-2].xanchor = "right"
        previous = x
    shown = [k for k in lanes if k in used]
    labels = dict(LANES)
    fig.update_yaxes(tickvals=[y[k] for k in shown], ticktext=[_(labels[k]) for k in shown], showgrid=True,
                     gridcolor="#eceff1", range=[min((y[k] for k in shown), default=1) - 0.6,
                                                 max((y[k] for k in shown), default=1) + 0.6],
                     zeroline=False, row=1, col=1)
    # the next-due markers (after the cut-off) and their labels stay inside the plot
    xs_max = max([x for x, _, _ in marks] + due_xs + [0.0])
    x_right = xs_max + max(3.0, 0.12 * xs_max)
    for tr in fig.data:  # a bar too short for its label has the label after its end, not over it and beyond
        if isinstance(tr.meta, dict) and "bar" in tr.meta:
            x0, x1 = tr.meta["bar"]
            if x1 - x0 < 0.25 * (x_right + 1):
                tr.x = [x1]
            tr.meta = None
    fig.update_xaxes(range=[-1, x_right], dtick=3 if xs_max <= 36 else 6, showgrid=True,
                     gridcolor="#f2f2f2", zeroline=False)
    fig.update_xaxes(title_text=from_origin.format(date=_date(origin)), row=rows, col=1)
    white_template(fig)
    fig.update_layout(font=FONT, height=height or (110 + 52 * len(shown) + (150 if rows == 2 else 0)),
                      margin=dict(l=130, r=20, t=40, b=50), hovermode="closest", showlegend=False)
    return fig


def comparable_figure(ops: pl.DataFrame | None, rg: pl.DataFrame | None, *, patient_months: float | None,
                      patient_marks: Mapping[str, str], patient_events: Mapping[str, float | None] = {},
                      n_ops: int, n_rg: int, height: int = 380) -> go.Figure:
    """Comparable patients: Kaplan-Meier organ-preservation survival (left) and cumulative
    incidence of local regrowth (right), both from T1, with a vertical line at this
    patient's current follow-up time.

    Parameters
    ----------
    ops : ``kaplan_meier`` output with a time-0 row (``time, survival, lower, upper, n_risk``), or None.
    rg : ``cumulative_incidence`` output (``time, cif, lower, upper``), or None.
    patient_months : this patient's months from T1 to last contact (None: no T1).
    patient_marks : per panel (``"OPS"``, ``"RG"``) a short text about this patient.
    patient_events : per panel, months from T1 of this patient's own event (organ removed,
        regrowth), marked with a cross on the curve; None when none.
    """
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1, subplot_titles=(
        _("Organ preservation (KM), n = {n}").format(n=fmt_int(n_ops)),
        _("Local regrowth (cumulative incidence), n = {n}").format(n=fmt_int(n_rg))))
    colour = "#1f4e79"
    for col, frame, est in ((1, ops, "survival"), (2, rg, "cif")):
        if frame is None or frame.height == 0:
            fig.add_annotation(text=_("too few comparable patients"), xref=f"x{col if col > 1 else ''} domain",
                               yref=f"y{col if col > 1 else ''} domain", x=0.5, y=0.5, showarrow=False,
                               font=dict(color="#777"))
            continue
        # numpy arrays and one hover template, not per-point lists and strings: the curve of
        # a large registry has thousands of steps
        t = frame["time"].cast(pl.Float64).to_numpy()
        y = frame[est].cast(pl.Float64).to_numpy()
        lo = frame.select(pl.coalesce("lower", est)).to_series().cast(pl.Float64).to_numpy()
        hi = frame.select(pl.coalesce("upper", est)).to_series().cast(pl.Float64).to_numpy()
        fig.add_trace(go.Scatter(x=t, y=100 * hi, mode="lines", line=dict(width=0, shape="hv"),
                                 hoverinfo="skip", showlegend=False), row=1, col=col)
        fig.add_trace(go.Scatter(x=t, y=100 * lo, mode="lines", line=dict(width=0, shape="hv"),
                                 fill="tonexty", fillcolor=rgba(colour, 0.15), hoverinfo="skip", showlegend=False),
                      row=1, col=col)
        n_risk = frame["n_risk"].cast(pl.Float64)
        at_risk = _(", %{customdata[2]:,.0f} at risk") if n_risk.null_count() == 0 else ""
        hover = (_("month %{x:.1f}: organ preserved %{y:.1f}% (95% CI %{customdata[0]:.1f}-%{customdata[1]:.1f}%)")
                 if est == "survival" else
                 _("month %{x:.1f}: regrowth %{y:.1f}% (95% CI %{customdata[0]:.1f}-%{customdata[1]:.1f}%)"))
        fig.add_trace(go.Scatter(
            x=t, y=100 * y, mode="lines", line=dict(color=colour, width=2, shape="hv"),
            customdata=np.column_stack((100 * lo, 100 * hi, n_risk.fill_null(np.nan).to_numpy())),
            hovertemplate=hover + at_risk + "<extra></extra>",
            showlegend=False), row=1, col=col)
        key = "OPS" if col == 1 else "RG"
        at = patient_events.get(key)
        if at is not None:
            idx = max(int(np.searchsorted(t, at, side="right")) - 1, 0)
            fig.add_trace(go.Scatter(x=[at], y=[100 * y[idx]], mode="markers",
                                     marker=dict(symbol="x", size=13, color="#c62828", line=dict(width=1, color="#fff")),
                                     hovertext=[_("this patient: {mark}").format(mark=patient_marks.get(key, ""))],
                                     hoverinfo="text",
                                     showlegend=False), row=1, col=col)
        if patient_months is not None:
            fig.add_vline(x=patient_months, line=dict(color="#c62828", width=2, dash="dash"), row=1, col=col)
            fig.add_annotation(x=patient_months, y=1.0, yref=f"y{col if col > 1 else ''} domain",
                               text=_("this patient: {months} mo").format(months=f"{patient_months:.1f}")
                               + f"<br>{patient_marks.get(key, '')}",
                               showarrow=False, xanchor="left", yanchor="top", align="left",
                               font=dict(size=11, color="#c62828"), bgcolor="rgba(255,255,255,0.8)", row=1, col=col)
    fig.update_yaxes(title_text=_("% with organ in place"), range=[0, 102], ticksuffix="%", row=1, col=1)
    fig.update_yaxes(title_text=_("% with local regrowth"), rangemode="tozero", ticksuffix="%", row=1, col=2)
    fig.update_xaxes(title_text=_("Months from the strategy decision (T1)"), rangemode="tozero", dtick=6)
    white_template(fig)
    fig.update_layout(font=FONT, height=height, margin=dict(l=60, r=20, t=50, b=50),
                      hovermode="closest")
    fig.update_annotations(selector=dict(xref="paper", yref="paper"), font_size=14)
    return fig
