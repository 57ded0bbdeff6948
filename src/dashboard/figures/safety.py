"""Safety figures: adverse-event bars by preferred term and strategy group, time to onset
of immune-related events, Clavien-Dindo distribution and major-complication / mortality
rates per procedure class. Pure: results in, ``go.Figure`` out."""

from __future__ import annotations

from typing import Mapping

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from ..i18n import _, fmt_int
from ..schema import CLAVIEN_DINDO
from ..stats.safety import OVERALL, AeTable, ProcedureSummary
from ._theme import FONT, STRATEGY_COLOURS, rgba
from .export import Frame, legend_rows, register_layout, with_layout_kind, wrap_text
from ._theme import GROUP_COLOURS as THEME_GROUP_COLOURS

# Strategy-group colours of the shared theme; no strategy yet grey, overall black.
GROUP_COLOURS = {**THEME_GROUP_COLOURS, "NONE": STRATEGY_COLOURS["NONE"], OVERALL: "#000000"}
# Clavien-Dindo: one sequential hue, light (none) to dark (IV), black for V (death).
CD_COLOURS = {"NONE": "#eeeeee", "I": "#fde0c5", "II": "#f9c08f", "IIIA": "#f39a5b", "IIIB": "#e4703a",
              "IVA": "#c1452d", "IVB": "#8c2318", "V": "#000000"}
_MARGIN = dict(l=10, r=20, t=40, b=40)


def _empty(message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, font=dict(size=15), x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_layout(height=160, xaxis=dict(visible=False), yaxis=dict(visible=False), font=FONT,
                      plot_bgcolor="white", margin=_MARGIN)
    return fig


def ae_bars_figure(table: AeTable, group_labels: Mapping[str, str], *, max_terms: int = 20,
                   groups: tuple[str, ...] | None = None) -> go.Figure:
    """Patients with each preferred term, per strategy group: a light bar for any grade
    with a solid bar for grade >= 3 drawn over it.

    Parameters
    ----------
    table : from :func:`dashboard.stats.safety.summarize_ae_table`.
    group_labels : group code -> legend label.
    max_terms : the most frequent terms (overall, any grade) shown.
    groups : groups to draw (default: every group of the table).

    Returns
    -------
    go.Figure : x = % of the group's safety population, one row per term (most frequent
        on top), one bar pair per group; hover gives n/N for both grade levels.
    """
    groups = tuple(groups if groups is not None else table.groups)
    c = table.counts_.filter(pl.col("row_type") == "PT")
    if c.height == 0 or not groups:
        return _empty(_("No immunotherapy adverse events in this selection"))
    top = (c.filter(pl.col("group") == OVERALL).sort(["n_any", "n_g3", "term"], descending=[True, True, False])
           .head(max_terms)["term"].to_list())
    y_order = list(reversed(top))
    k = len(groups)
    width = 0.84 / k
    fig = go.Figure()
    for i, g in enumerate(groups):
        sub = {r["term"]: r for r in c.filter((pl.col("group") == g) & pl.col("term").is_in(top)).iter_rows(named=True)}
        rows = [sub[t] for t in y_order]
        den = rows[0]["denominator"] if rows else 0
        if not den:
            continue
        colour = GROUP_COLOURS.get(g, "#607d8b")
        # bars are drawn top-down within a term: the first group on top
        offset = 0.42 - (i + 1) * width
        label = group_labels.get(g, g)
        any_text, g3_text = _("any grade: {n}/{d} ({pct}%)"), _("grade ≥3: {n}/{d} ({pct}%)")
        hover = [f"<b>{r['term']}</b><br>{label}<br>"
                 + any_text.format(n=r["n_any"], d=den, pct=f"{100 * r['n_any'] / den:.1f}") + "<br>"
                 + g3_text.format(n=r["n_g3"], d=den, pct=f"{100 * r['n_g3'] / den:.1f}") for r in rows]
        common = dict(y=y_order, orientation="h", width=width * 0.92, offset=offset, hovertext=hover,
                      hoverinfo="text", legendgroup=g)
        fig.add_trace(go.Bar(x=[100 * r["n_any"] / den for r in rows], name=f"{label} (N={den:,})",
                             marker=dict(color=rgba(colour, 0.35), line=dict(color=colour, width=1)), **common))
        fig.add_trace(go.Bar(x=[100 * r["n_g3"] / den for r in rows], name=_("{group}: grade ≥3").format(group=label),
                             marker=dict(color=colour), showlegend=False, **common))
    fig.update_layout(
        barmode="overlay", font=FONT, plot_bgcolor="white", height=max(320, 120 + len(top) * (14 * k + 10)),
        margin=dict(l=10, r=20, t=125, b=50),
        legend=dict(orientation="h", yref="container", yanchor="top", y=0.995, x=0, title=None),
        xaxis=dict(title=_("% of the group's safety population (light: any grade; solid: grade ≥3)"),
                   gridcolor="#eceff1", rangemode="tozero", ticksuffix="%"),
        yaxis=dict(categoryorder="array", categoryarray=y_order, showgrid=False, range=[-0.5, len(y_order) - 0.5]),
    )
    fig.add_annotation(text=_("Light bar: any grade; solid bar: grade ≥3 (% of the group's safety population)"),
                       xref="paper", yref="paper", x=0, y=1.0, yanchor="bottom", xanchor="left", showarrow=False,
                       font=dict(size=13, color="#52606d"), name="KEY")  # identifiers in upper case: not text a reader sees
    return with_layout_kind(fig, "ae_bars", terms=len(top), groups=k)


def _legend_names(spec: dict) -> list[str]:
    return [str(t.get("name")) for t in spec["data"] if t.get("showlegend", True) is not False and t.get("name")]


@register_layout("ae_bars")
def fit_ae_bars(spec: dict, frame: Frame) -> None:
    """Export layout of :func:`ae_bars_figure`: the legend on as many rows as it needs at
    the top, the key line wrapped to the plot's width, long preferred terms on two lines
    at narrow widths, the x-axis title short at narrow widths, and a height that gives
    each term its wrapped label; when the height cap is reached, the term labels' type
    steps down (never below ``frame.min_font``)."""
    layout = spec["layout"]
    font = max(frame.min_font, (layout.get("font") or {}).get("size") or 14)
    lf = max(frame.min_font, ((layout.get("legend") or {}).get("font") or {}).get("size") or font)
    ya = layout.setdefault("yaxis", {})
    cats = list(ya.get("categoryarray") or [])
    p = (layout.get("meta") or {}).get("layout") or {}
    terms, groups = p.get("terms", 20), p.get("groups", 1)
    rows = legend_rows(_legend_names(spec), frame.width - 20, lf)
    legend_px = rows * max(lf * 1.65, lf + 10) + 16

    def plan(tf: int):
        wrapped = [wrap_text(c, 18) if frame.narrow else c for c in cats]
        lines = max((w.count("<br>") + 1 for w in wrapped), default=1)
        label_px = max((frame.text_px(x, tf) for w in wrapped for x in w.split("<br>")), default=0)
        return wrapped, label_px, terms * max(lines * tf * 1.25 + 6, groups * 5 + 8)

    tf = max(frame.min_font, (ya.get("tickfont") or {}).get("size") or font)
    while True:
        wrapped, label_px, rows_px = plan(tf)
        key_lines = 1
        for note in layout.get("annotations") or []:
            if note.get("name") == "KEY":
                nf = max(frame.min_font, (note.get("font") or {}).get("size") or font)
                note["text"] = wrap_text(note.get("_text", note["text"]).replace("<br>", " "),
                                         int((frame.width - label_px - 40) / (0.56 * nf)))
                key_lines = note["text"].count("<br>") + 1
        top = int(legend_px + key_lines * font * 1.35 + 14)
        if top + 100 + rows_px <= frame.max_height or tf <= frame.min_font:
            break
        tf -= 1
    if cats:
        ya["tickvals"], ya["ticktext"] = cats, wrapped
    ya["tickfont"] = {**(ya.get("tickfont") or {}), "size": tf}
    layout["legend"] = {**(layout.get("legend") or {}), "yref": "container", "y": 1.0, "yanchor": "top",
                        "x": 0, "xanchor": "left", "orientation": "h"}
    layout.setdefault("margin", {})["t"] = top
    xa = layout.setdefault("xaxis", {})
    if frame.narrow or frame.presentation:
        xa["title"] = {**(xa.get("title") or {}), "text": _("% of the group's safety population")}
    xa["tickangle"] = 0
    need = top + 100 + rows_px
    layout["height"] = int(min(frame.max_height, max(layout.get("height") or 0, need)
                               if frame.size == "slide" else need))


@register_layout("procedure")
def fit_procedure(spec: dict, frame: Frame) -> None:
    """Export layout of :func:`procedure_figure`: the legend moves from the right to the
    top (on as many rows as it needs, no group titles) at narrow widths, the two panel
    titles wrap to their panel, and bar labels that do not fit are hidden (not shrunk)."""
    layout = spec["layout"]
    font = max(frame.min_font, (layout.get("font") or {}).get("size") or 14)
    lf = max(frame.min_font, ((layout.get("legend") or {}).get("font") or {}).get("size") or font)
    title_lines = 1
    widths = (0.56, 0.44)
    ya = layout.get("yaxis") or {}
    labels = [str(t.get("y")[0]) if False else "" for t in []]
    cats = [str(y) for t in spec["data"] if t.get("type") == "bar" for y in (t.get("y") or [])]
    label_px = max((frame.text_px(c, font) for c in cats), default=0)
    if frame.narrow and cats:  # class names on two lines ("Radical resection<br>(n=518)")
        uniq = list(dict.fromkeys(cats))
        ya["tickvals"], ya["ticktext"] = uniq, [wrap_text(c, 16) for c in uniq]
        label_px = max(frame.text_px(x, font) for c in uniq for x in wrap_text(c, 16).split("<br>"))
        layout["yaxis"] = ya
    for name in ("xaxis", "xaxis2"):
        ax = layout.setdefault(name, {})
        ax["tickangle"] = 0
        if frame.narrow:
            ax["nticks"] = 4
    # the left panel's "100%" would meet the right panel's "0%"
    layout["xaxis"]["tickvals"] = [0, 50] if frame.narrow or frame.presentation else [0, 25, 50, 75]
    for note, share in zip([n for n in layout.get("annotations") or [] if n.get("yref") == "paper"
                            and n.get("y") == 1.0], widths):
        panel = (frame.width - label_px - 50) * share
        tf = max(frame.min_font, (note.get("font") or {}).get("size") or font)
        note["text"] = wrap_text(note["text"], max(10, int(panel / (0.56 * tf))))
        title_lines = max(title_lines, note["text"].count("<br>") + 1)
        note["font"] = {**(note.get("font") or {}), "size": tf}
    legend_px = 0
    if frame.narrow or frame.presentation:
        for t in spec["data"]:  # a horizontal legend stacks each legend group vertically
            t.pop("legendgrouptitle", None)
            t.pop("legendgroup", None)
        rows = legend_rows(_legend_names(spec), frame.width - 20, lf)
        legend_px = rows * max(lf * 1.65, lf + 10) + 16
        layout["legend"] = {**(layout.get("legend") or {}), "orientation": "h", "yref": "container", "y": 1.0,
                            "yanchor": "top", "x": 0, "xanchor": "left", "traceorder": "normal"}
    layout.setdefault("margin", {})["t"] = int(legend_px + title_lines * font * 1.4 + 16)
    n_classes = (layout.get("meta") or {}).get("layout", {}).get("classes", 3)
    need = layout["margin"]["t"] + 70 + n_classes * max(60, font * 4.5)
    if not legend_px:  # the legend stays on the right, one entry a row with its group titles: plotly
        # clips what does not fit the plot's height, so the figure is made tall enough for it
        groups = {t.get("legendgroup") for t in spec["data"] if t.get("legendgrouptitle")}
        rows = len(_legend_names(spec)) + len(groups)
        need = max(need, layout["margin"]["t"] + (layout["margin"].get("b") or 40) + rows * max(lf * 1.6, lf + 8) + 12)
    layout["height"] = int(min(frame.max_height, need))


ONSET_POINTS_MAX = 3000  # patient-term points drawn on the onset figure; boxes only above


def irae_onset_figure(events: pl.DataFrame) -> go.Figure:
    """Days from T0 to the first onset of each immune-related preferred term, one point
    per patient and term, with a box per term (ordered by median onset).

    Parameters
    ----------
    events : immune-related events with ``subject_id``, ``term``, ``days_from_t0``,
        ``steroids``.
    """
    if events.height == 0:
        return _empty(_("No immune-related adverse events in this selection"))
    first = (events.sort(["subject_id", "term", "days_from_t0"])
             .group_by(["subject_id", "term"], maintain_order=True)
             .agg(pl.col("days_from_t0").first(), pl.col("steroids").fill_null(False).any()))
    order = (first.group_by("term").agg(pl.col("days_from_t0").median().alias("m"), pl.len().alias("n"))
             .sort(["m", "term"], descending=[True, False]))
    fig = go.Figure()
    box = dict(orientation="h", name=_("Onset"), marker=dict(color="#546e7a"), line=dict(width=1.4),
               fillcolor=rgba("#90a4ae", 0.25), showlegend=False, hoverinfo="skip")
    if first.height <= ONSET_POINTS_MAX:
        fig.add_trace(go.Box(y=first["term"].to_list(), x=first["days_from_t0"].to_numpy(), boxpoints=False, **box))
        for flag, name, colour in ((False, _("No systemic steroids"), "#78909c"),
                                   (True, _("Treated with steroids"), "#d84315")):
            sub = first.filter(pl.col("steroids") == flag)
            fig.add_trace(go.Scatter(
                y=sub["term"].to_list(), x=sub["days_from_t0"].to_numpy(), mode="markers", name=name,
                marker=dict(color=colour, size=5, opacity=0.55),
                hovertemplate="%{y}<br>" + _("onset day %{x} from T0") + "<extra></extra>"))  # no patient id: the figure is for every role
    else:
        # registry scale: the boxes from precomputed quartiles and Tukey fences (as plotly
        # draws them: linear quartiles, whiskers to the furthest point within 1.5 IQR),
        # not one point per patient sent to the browser
        q = pl.col("days_from_t0")
        quart = (first.group_by("term")
                 .agg(q.quantile(0.25, "linear").alias("q1"), q.median().alias("med"),
                      q.quantile(0.75, "linear").alias("q3"))
                 .with_columns(lf=pl.col("q1") - 1.5 * (pl.col("q3") - pl.col("q1")),
                               uf=pl.col("q3") + 1.5 * (pl.col("q3") - pl.col("q1"))))
        fences = (first.join(quart.select("term", "lf", "uf"), on="term")
                  .group_by("term").agg(q.filter(q >= pl.col("lf")).min().alias("lower"),
                                        q.filter(q <= pl.col("uf")).max().alias("upper")))
        st = quart.join(fences, on="term").sort("term")
        lower, upper = st["lower"].to_list(), st["upper"].to_list()
        fig.add_trace(go.Box(y=st["term"].to_list(), q1=st["q1"].to_list(), median=st["med"].to_list(),
                             q3=st["q3"].to_list(), lowerfence=lower, upperfence=upper, **box))
        fig.add_annotation(text=_("{n} patient-terms: boxes only (points are drawn up to {m})").format(
                               n=fmt_int(first.height), m=fmt_int(ONSET_POINTS_MAX)), xref="paper", yref="paper", x=1, y=1.0, xanchor="right",
                           yanchor="bottom", showarrow=False, font=dict(size=12, color="#546e7a"))
    terms = order["term"].to_list()
    fig.update_layout(
        font=FONT, plot_bgcolor="white", height=max(300, 90 + 26 * len(terms)), margin=dict(l=10, r=20, t=40, b=50),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0),
        xaxis=dict(title=_("Days from first immunotherapy dose (T0) to the first event of the term"), gridcolor="#eceff1",
                   rangemode="tozero"),
        yaxis=dict(categoryorder="array", categoryarray=terms, showgrid=False,
                   ticktext=[f"{t} ({n})" for t, n in zip(terms, order["n"])], tickvals=terms),
    )
    return fig


def procedure_figure(s: ProcedureSummary, class_labels: Mapping[str, str]) -> go.Figure:
    """Left: Clavien-Dindo distribution per procedure class (100% stacked, recorded grades).
    Right: Clavien-Dindo >= III and 30- / 90-day mortality with Clopper-Pearson 95% CIs.
    """
    classes = [k for k in s.classes if int(s.counts_.filter(pl.col("proc_class") == k)["procedures"][0]) > 0]
    if not classes:
        return _empty(_("No resections in this selection"))
    names = {k: f"{class_labels.get(k, k)} (n={int(s.counts_.filter(pl.col('proc_class') == k)['procedures'][0])})"
             for k in classes}
    y = [names[k] for k in reversed(classes)]
    fig = make_subplots(rows=1, cols=2, column_widths=[0.56, 0.44], horizontal_spacing=0.07,
                        subplot_titles=(_("Clavien-Dindo grade (worst within 90 days)"),
                                        _("Rates with {level}% CI (Clopper-Pearson)").format(
                                            level=int(100 * s.conf_level))))
    for g in CLAVIEN_DINDO.codes:
        xs, text, hover = [], [], []
        for k in reversed(classes):
            r = s.clavien_.filter((pl.col("proc_class") == k) & (pl.col("grade") == g)).row(0, named=True)
            pct = 100 * (r["pct"] or 0)
            xs.append(pct)
            text.append(f"{pct:.0f}%" if pct >= 6 else "")
            hover.append(f"{names[k]}<br>{CLAVIEN_DINDO.label(g)}: {r['n']} ({pct:.1f}%)")
        fig.add_trace(go.Bar(x=xs, y=y, orientation="h", name=CLAVIEN_DINDO.label(g), text=text,
                             textposition="inside", insidetextanchor="middle",
                             textfont=dict(color="white" if g in ("IVA", "IVB", "V") else "#1f2933"), hovertext=hover, hoverinfo="text",
                             marker=dict(color=CD_COLOURS[g], line=dict(color="white", width=0.5)),
                             legendgroup="cd", legendgrouptitle_text=_("Clavien-Dindo")), 1, 1)
    # right panel: numeric y aligned with the categories on the left (0 .. n-1, bottom up),
    # the three measures of a class slightly apart
    measures = ((_("Clavien-Dindo ≥ III"), "#e65100", "diamond", s.major_, "x"),
                (_("30-day mortality"), "#424242", "circle", s.mortality_.filter(pl.col("days") == 30), "deaths"),
                (_("90-day mortality"), "#9e9e9e", "square", s.mortality_.filter(pl.col("days") == 90), "deaths"))
    pos = {k: i for i, k in enumerate(reversed(classes))}
    for j, (label, colour, symbol, frame, num) in enumerate(measures):
        rows = {r["proc_class"]: r for r in frame.iter_rows(named=True)}
        ks = [k for k in reversed(classes) if rows[k]["n"]]
        est = [100 * rows[k]["estimate"] for k in ks]
        fig.add_trace(go.Scatter(
            x=est, y=[pos[k] + 0.22 - 0.22 * j for k in ks], mode="markers", name=label, legendgroup="rates",
            legendgrouptitle_text=_("Rates"), marker=dict(color=colour, symbol=symbol, size=9),
            error_x=dict(type="data", symmetric=False, array=[100 * rows[k]["upper"] - e for k, e in zip(ks, est)],
                         arrayminus=[e - 100 * rows[k]["lower"] for k, e in zip(ks, est)], thickness=1.5, width=3,
                         color=colour),
            hovertext=[f"{names[k]}<br>{label}: {rows[k][num]}/{rows[k]['n']} = {100 * rows[k]['estimate']:.1f}% "
                       f"({100 * rows[k]['lower']:.1f}-{100 * rows[k]['upper']:.1f})" for k in ks],
            hoverinfo="text"), 1, 2)
    fig.update_layout(barmode="stack", font=FONT, plot_bgcolor="white", height=170 + 80 * len(classes),
                      margin=dict(l=10, r=20, t=50, b=40), legend=dict(groupclick="toggleitem", font=dict(size=12), traceorder="grouped"))
    fig.update_xaxes(range=[0, 100], ticksuffix="%", gridcolor="#eceff1", row=1, col=1)
    fig.update_xaxes(ticksuffix="%", gridcolor="#eceff1", rangemode="tozero", row=1, col=2)
    fig.update_yaxes(showgrid=False, row=1, col=1)
    fig.update_yaxes(range=[-0.5, len(classes) - 0.5], showticklabels=False, showgrid=False, zeroline=False,
                     row=1, col=2)
    for i in range(len(classes) - 1):
        fig.add_hline(y=i + 0.5, line=dict(color="#eceff1", width=1), row=1, col=2)
    return with_layout_kind(fig, "procedure", classes=len(classes))
