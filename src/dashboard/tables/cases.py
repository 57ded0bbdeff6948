"""The MDT report's case list: one row per patient chosen for the meeting. Pure: patient
rows (``queries.patient.PATIENT_COLUMNS``) in, a display table out."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import polars as pl

from ..i18n import N_, _, fmt_decimal, ngettext
from ..schema import BIOMARKER_BASIS, REGIMEN_CLASS, RESPONSE, SEX, STRATEGY, TUMOUR_SITE

# Column headings (English source strings, shown translated).
CASE_COLUMNS = (N_("Case"), N_("Patient"), N_("Tumour, stage, biomarker"), N_("Immunotherapy"),
                N_("Restaging response"), N_("Initial strategy"), N_("Now"), N_("Months since T1"))


def _months(a: dt.date | None, b: dt.date | None) -> float | None:
    if a is None or b is None:
        return None
    return (b - a).days / (365.25 / 12)


def _stage(ct: str | None, cn: str | None, cm: str | None) -> str:
    t = (ct or "Tx").replace("T4A", "T4a").replace("T4B", "T4b")
    return f"c{t} c{cn or 'Nx'}" + (f" c{cm}" if cm and cm != "M0" else "")


def format_case_list(rows: Sequence[Mapping], status_text: Mapping[str, str]) -> pl.DataFrame:
    """The case list, one row per patient in the given order.

    Parameters
    ----------
    rows : patient rows with the columns of ``queries.patient.PATIENT_COLUMNS``
        (``subject_id`` is the registry's pseudonymised id; nothing else identifies).
    status_text : ``status_at_last_fu`` code -> English source label (translated here).

    Returns
    -------
    pl.DataFrame : string columns :data:`CASE_COLUMNS` (translated), at most
        ``report.WIDE_TABLE_COLUMNS`` so the list stays on a portrait page; "Now" is the
        status at the last contact and "Months since T1" the time from the strategy
        decision to that contact, one decimal.
    """
    def lab(vocab, code) -> str:
        return vocab.label(code) if code else _("not recorded")

    out = []
    for p in rows:
        regimen = lab(REGIMEN_CLASS, p.get("regimen_class"))
        if p.get("ici_cycles"):
            regimen = ngettext("{regimen}, {n} cycle", "{regimen}, {n} cycles", int(p["ici_cycles"])).format(
                regimen=regimen, n=p["ici_cycles"])
        age = _("{age} y").format(age=int(p["age"])) if p.get("age") is not None else ""
        sex = SEX.label(p["sex"]) if p.get("sex") else ""
        who = _("{age}, {sex}").format(age=age, sex=sex) if age and sex else (age or sex or "-")
        status = p.get("status_at_last_fu")
        months = _months(p.get("t1"), p.get("last_contact_date"))
        out.append([
            str(p["subject_id"]), who,
            _("{site} {stage}; {biomarker}").format(site=lab(TUMOUR_SITE, p.get("tumour_site")),
                                                    stage=_stage(p.get("ct"), p.get("cn"), p.get("cm")),
                                                    biomarker=lab(BIOMARKER_BASIS, p.get("biomarker_basis"))),
            regimen,
            lab(RESPONSE, p.get("restaging_response")), lab(STRATEGY, p.get("initial_strategy")),
            _(status_text[status]) if status in status_text else (status or "-"),
            fmt_decimal(months, 1) if months is not None else "-",
        ])
    names = [_(c) for c in CASE_COLUMNS]
    return pl.DataFrame(out, schema=[(n, pl.String) for n in names], orient="row")
