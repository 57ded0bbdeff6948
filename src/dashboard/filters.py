"""Global cohort filters: a frozen :class:`CohortFilter` <-> SQL ``WHERE`` <-> URL.

The filter is one validated value object. It turns into a ``WHERE`` clause over the
``adsl`` table whose column names come only from :data:`FILTER_FIELDS` (a whitelist
built from ``schema.py``) and whose values are always bound as named parameters
(``$f_site_0`` ...), never written into the SQL text. It also turns into URL query
parameters and back; URL values are untrusted, so :func:`parse_query_params` drops
anything it does not recognise and reports it as a :class:`Notice`.

Codes in a multi-choice field select patients whose column holds one of the codes; the
pseudo-code :data:`MISSING` selects patients with no value recorded. An empty selection
means "no restriction".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields, replace
from typing import Any, Iterable, Mapping, Sequence

from .i18n import N_, SOURCE_LANGUAGE, fmt_date, get_language, gettext
from .schema import (
    BIOMARKER_BASIS,
    CN_STAGE,
    COHORT,
    CT_STAGE,
    ECOG,
    HISTOLOGY,
    REGIMEN_CLASS,
    RESPONSE,
    SEX,
    STRATEGY,
    SUBJECT,
    TUMOUR_SITE,
    YES_NO_UNK,
    Vocabulary,
)

MISSING = "MISSING"
MAX_URL_VALUE = 40  # longest URL value echoed back in a notice
MAX_URL_VALUES = 50  # more repeated values than this for one parameter is not a real link


@dataclass(frozen=True)
class ChoiceField:
    """A multi-choice filter over one coded ``adsl`` column."""

    key: str  # URL parameter and CohortFilter attribute
    column: str  # adsl column (whitelisted here, never from a user)
    label: str  # English source (marked with N_); shown as ``title`` / ``_(label)``
    vocab: Vocabulary
    missing_label: str | None = None  # offer MISSING when the column can be empty (English source)
    short_labels: Mapping[str, str] = field(default_factory=dict)  # English source

    @property
    def codes(self) -> tuple[str, ...]:
        return self.vocab.codes + ((MISSING,) if self.missing_label else ())

    @property
    def title(self) -> str:
        """The field's label in the current language."""
        return gettext(self.label)

    def label_of(self, code: str) -> str:
        """The option label of ``code`` in the current language."""
        if code == MISSING:
            return gettext(self.missing_label or NOT_RECORDED)
        short = self.short_labels.get(code)
        return gettext(short) if short else self.vocab.label(code)


@dataclass(frozen=True)
class RangeField:
    """A closed numeric (int) or date range over one ``adsl`` column."""

    key: str
    column: str
    label: str  # English source (marked with N_); shown as ``title`` / ``_(label)``
    kind: str  # "int" or "date"
    lo: Any = None  # fixed bounds (int fields); date bounds come from the data
    hi: Any = None

    @property
    def title(self) -> str:
        """The field's label in the current language."""
        return gettext(self.label)


NOT_RECORDED = N_("Not recorded")


CHOICE_FIELDS: tuple[ChoiceField, ...] = (
    ChoiceField("cohort", "cohort", N_("Registry part"), COHORT),
    ChoiceField("site", "tumour_site", N_("Tumour site"), TUMOUR_SITE),
    ChoiceField("histology", "histology", N_("Histology"), HISTOLOGY, NOT_RECORDED),
    ChoiceField("biomarker", "biomarker_basis", N_("Biomarker basis"), BIOMARKER_BASIS,
                short_labels={"POLE": N_("POLE mutation")}),
    ChoiceField("lynch", "lynch", N_("Lynch syndrome"), YES_NO_UNK, NOT_RECORDED),
    ChoiceField("ct", "ct", N_("Clinical T"), CT_STAGE, NOT_RECORDED),
    ChoiceField("cn", "cn", N_("Clinical N"), CN_STAGE, NOT_RECORDED),
    ChoiceField("ecog", "ecog", N_("ECOG"), ECOG, NOT_RECORDED),
    ChoiceField("sex", "sex", N_("Sex"), SEX),
    ChoiceField("regimen", "regimen_class", N_("Immunotherapy regimen"), REGIMEN_CLASS, N_("No immunotherapy recorded")),
    ChoiceField("response", "restaging_response", N_("Restaging response"), RESPONSE, N_("Not assessed")),
    ChoiceField("strategy", "initial_strategy", N_("Initial strategy"), STRATEGY, N_("No strategy recorded"),
                short_labels={"LE": N_("Local excision"), "ESD": "ESD", "EMR": "EMR"}),
)
_AGE = SUBJECT.column("age")
RANGE_FIELDS: tuple[RangeField, ...] = (
    RangeField("age", "age", N_("Age (years)"), "int", int(_AGE.min or 18), int(_AGE.max or 100)),
    RangeField("t0", "t0", N_("First immunotherapy dose (T0)"), "date"),
)
FILTER_FIELDS: Mapping[str, ChoiceField | RangeField] = {f.key: f for f in (*CHOICE_FIELDS, *RANGE_FIELDS)}
FILTER_COLUMNS: frozenset[str] = frozenset(f.column for f in FILTER_FIELDS.values())
# Streamlit's own URL parameters: never ours to validate or drop.
RESERVED_PARAMS: frozenset[str] = frozenset({"embed", "embed_options"})


@dataclass(frozen=True)
class Notice:
    """A URL value that was dropped, and why (shown to the user).

    ``message`` is the English source of the reason (a catalog msgid with ``{name}``
    placeholders) and ``args`` its values; :attr:`reason` is the text in the language
    current when it is read, so a notice kept in a session follows a language switch.
    Arguments named in ``label_args`` are English labels, translated on display too.
    """

    param: str
    value: str
    message: str
    args: tuple[tuple[str, Any], ...] = ()
    label_args: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        english = get_language() == SOURCE_LANGUAGE
        values = {}
        for k, v in self.args:
            if k in self.label_args:
                v = v.lower() if english else gettext(v)
            values[k] = v
        return gettext(self.message).format(**values)

    def __str__(self) -> str:
        v = self.value if len(self.value) <= MAX_URL_VALUE else self.value[:MAX_URL_VALUE] + "..."
        return gettext("`{param}={value}` ignored: {reason}").format(param=self.param, value=v, reason=self.reason)


@dataclass(frozen=True)
class CohortFilter:
    """The global cohort selection. Empty tuple / ``None`` = no restriction."""

    cohort: tuple[str, ...] = ()
    site: tuple[str, ...] = ()
    histology: tuple[str, ...] = ()
    biomarker: tuple[str, ...] = ()
    lynch: tuple[str, ...] = ()
    ct: tuple[str, ...] = ()
    cn: tuple[str, ...] = ()
    ecog: tuple[str, ...] = ()
    sex: tuple[str, ...] = ()
    regimen: tuple[str, ...] = ()
    response: tuple[str, ...] = ()
    strategy: tuple[str, ...] = ()
    age: tuple[int, int] | None = None
    t0: tuple[dt.date, dt.date] | None = None

    def __post_init__(self) -> None:
        for f in CHOICE_FIELDS:
            value = getattr(self, f.key)
            if not isinstance(value, tuple):
                raise TypeError(f"{f.key}: expected a tuple of codes, got {type(value).__name__}")
            unknown = [c for c in value if c not in f.codes]
            if unknown:
                raise ValueError(f"{f.key}: unknown codes {unknown}")
            if len(set(value)) != len(value) or list(value) != [c for c in f.codes if c in value]:
                object.__setattr__(self, f.key, tuple(c for c in f.codes if c in value))
        if self.age is not None:
            lo, hi = self.age
            f = FILTER_FIELDS["age"]
            if not (isinstance(lo, int) and isinstance(hi, int) and f.lo <= lo <= hi <= f.hi):
                raise ValueError(f"age: expected {f.lo} <= lo <= hi <= {f.hi}, got {self.age}")
        if self.t0 is not None:
            lo, hi = self.t0
            if not (isinstance(lo, dt.date) and isinstance(hi, dt.date) and lo <= hi):
                raise ValueError(f"t0: expected two dates lo <= hi, got {self.t0}")

    # ---------------------------------------------------------------- derived views
    @property
    def is_empty(self) -> bool:
        return self == CohortFilter()

    def where_sql(self, alias: str | None = None) -> tuple[str, dict[str, Any]]:
        """``WHERE`` predicate over ``adsl`` and its named parameters.

        Parameters
        ----------
        alias : table alias to qualify columns with (``"a"`` -> ``a.tumour_site``).

        Returns
        -------
        (sql, params) : ``sql`` is ``"TRUE"`` when nothing is selected; ``params``
            maps ``f_<key>_<i>`` names to values for DuckDB's ``$name`` binding.
        """
        pre = f"{alias}." if alias else ""
        clauses: list[str] = []
        params: dict[str, Any] = {}
        for f in CHOICE_FIELDS:
            codes = getattr(self, f.key)
            if not codes:
                continue
            col = pre + f.column
            names = []
            for i, code in enumerate(c for c in codes if c != MISSING):
                name = f"f_{f.key}_{i}"
                params[name] = code
                names.append(f"${name}")
            parts = [f"{col} IN ({', '.join(names)})"] if names else []
            if MISSING in codes:
                parts.append(f"{col} IS NULL")
            clauses.append("(" + " OR ".join(parts) + ")")
        for f in RANGE_FIELDS:
            value = getattr(self, f.key)
            if value is None:
                continue
            params[f"f_{f.key}_lo"], params[f"f_{f.key}_hi"] = value
            clauses.append(f"({pre}{f.column} BETWEEN $f_{f.key}_lo AND $f_{f.key}_hi)")
        return (" AND ".join(clauses) or "TRUE"), params

    def describe(self) -> list[str]:
        """One readable line per active filter (labels, not codes)."""
        out = []
        for f in CHOICE_FIELDS:
            codes = getattr(self, f.key)
            if codes:
                out.append(gettext("{field}: {values}").format(
                    field=f.title, values=gettext(", ").join(f.label_of(c) for c in codes)))
        if self.age is not None:
            out.append(gettext("Age {lo}-{hi} years").format(lo=self.age[0], hi=self.age[1]))
        if self.t0 is not None:
            out.append(gettext("T0 {start} to {end}").format(start=fmt_date(self.t0[0], "iso"),
                                                             end=fmt_date(self.t0[1], "iso")))
        return out

    def to_query_params(self) -> dict[str, list[str]]:
        """URL parameters for the active filters (repeated values for lists and ranges)."""
        out: dict[str, list[str]] = {}
        for f in CHOICE_FIELDS:
            codes = getattr(self, f.key)
            if codes:
                out[f.key] = list(codes)
        if self.age is not None:
            out["age"] = [str(self.age[0]), str(self.age[1])]
        if self.t0 is not None:
            out["t0"] = [self.t0[0].isoformat(), self.t0[1].isoformat()]
        return out

    def without(self, key: str) -> "CohortFilter":
        """The same filter with one field cleared."""
        default = next(f.default for f in fields(self) if f.name == key)
        return replace(self, **{key: default})


# ------------------------------------------------------------------------ page options
@dataclass(frozen=True)
class PageOption:
    """A page-level choice kept in the URL (e.g. combined vs side-by-side cohorts)."""

    key: str
    label: str  # English source (marked with N_ by the page); shown as ``title`` / ``_(label)``
    options: tuple[tuple[str, str], ...]  # (URL value, English label marked with N_)
    default: str

    def __post_init__(self) -> None:
        if self.key in FILTER_FIELDS or self.key in RESERVED_PARAMS:
            raise ValueError(f"page option {self.key!r} clashes with a filter parameter")
        if self.default not in self.values:
            raise ValueError(f"page option {self.key}: default {self.default!r} is not an option")

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(v for v, _ in self.options)

    @property
    def title(self) -> str:
        """The option's label in the current language."""
        return gettext(self.label)

    def label_of(self, value: str) -> str:
        """The label of ``value`` in the current language (an unknown value as itself)."""
        label = dict(self.options).get(value)
        return value if label is None else gettext(label)


# ------------------------------------------------------------------------ URL parsing
def _as_list(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _parse_range(f: RangeField, values: list[str], notices: list[Notice],
                 date_bounds: tuple[dt.date, dt.date] | None) -> tuple[Any, Any] | None:
    joined = "&".join(values)
    if len(values) != 2:
        notices.append(Notice(f.key, joined, N_("a range needs exactly two values (from and to)")))
        return None
    try:
        if f.kind == "int":
            lo, hi = (int(v) for v in values)
        else:
            lo, hi = (dt.date.fromisoformat(v) for v in values)
    except (ValueError, TypeError):
        notices.append(Notice(f.key, joined, N_("not a valid whole number") if f.kind == "int"
                              else N_("not a valid YYYY-MM-DD date")))
        return None
    if lo > hi:
        notices.append(Notice(f.key, joined, N_("the start is after the end")))
        return None
    if f.kind == "int" and (lo < f.lo or hi > f.hi):
        notices.append(Notice(f.key, joined, N_("outside {lo}-{hi}"), (("lo", f.lo), ("hi", f.hi))))
        return None
    if f.kind == "date" and date_bounds is not None:
        blo, bhi = date_bounds
        if hi < blo or lo > bhi:
            notices.append(Notice(f.key, joined, N_("no patient started immunotherapy in that range ({start} to {end})"),
                                  (("start", blo.isoformat()), ("end", bhi.isoformat()))))
            return None
        lo, hi = max(lo, blo), min(hi, bhi)
    return lo, hi


def parse_query_params(
    raw: Mapping[str, str | Sequence[str]],
    options: Iterable[PageOption] = (),
    *,
    t0_bounds: tuple[dt.date, dt.date] | None = None,
) -> tuple[CohortFilter, dict[str, str], list[Notice]]:
    """Read untrusted URL parameters into a filter and page options.

    Never raises on user input: unknown parameters, unknown codes, malformed numbers or
    dates and out-of-range values are dropped, each with a :class:`Notice`.

    Parameters
    ----------
    raw : parameter name -> value or repeated values, as in the URL.
    options : page options the current page understands; other names are dropped.
    t0_bounds : the earliest and latest T0 in the data; a T0 range is clipped to it.

    Returns
    -------
    (filter, page option values, notices)
    """
    notices: list[Notice] = []
    kwargs: dict[str, Any] = {}
    opts = {o.key: o for o in options}
    chosen: dict[str, str] = {}
    for key, value in raw.items():
        key = str(key)
        values = _as_list(value)[:MAX_URL_VALUES]
        if key in RESERVED_PARAMS:
            continue
        f = FILTER_FIELDS.get(key)
        if isinstance(f, ChoiceField):
            keep = []
            for v in values:
                if v in f.codes:
                    keep.append(v)
                elif v != "":
                    notices.append(Notice(key, v, N_("not a known {field} code"), (("field", f.label),), ("field",)))
            if keep:
                kwargs[key] = tuple(keep)
        elif isinstance(f, RangeField):
            rng = _parse_range(f, values, notices, t0_bounds if f.kind == "date" else None)
            if rng is not None:
                kwargs[key] = rng
        elif key in opts:
            v = values[-1] if values else ""
            if v in opts[key].values:
                chosen[key] = v
            else:
                notices.append(Notice(key, v, N_("not one of {values}"), (("values", ", ".join(opts[key].values)),)))
        else:
            notices.append(Notice(key, "&".join(values), N_("unknown parameter")))
    return CohortFilter(**kwargs), chosen, notices


def build_query_params(flt: CohortFilter, option_values: Mapping[str, str] = {},
                       options: Iterable[PageOption] = ()) -> dict[str, list[str]]:
    """The URL for a filter and page options; options at their default are left out."""
    out = flt.to_query_params()
    for o in options:
        v = option_values.get(o.key, o.default)
        if v != o.default:
            out[o.key] = [v]
    return out
