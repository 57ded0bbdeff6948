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
    label: str
    vocab: Vocabulary
    missing_label: str | None = None  # offer MISSING when the column can be empty
    short_labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def codes(self) -> tuple[str, ...]:
        return self.vocab.codes + ((MISSING,) if self.missing_label else ())

    def label_of(self, code: str) -> str:
        if code == MISSING:
            return self.missing_label or "Not recorded"
        return self.short_labels.get(code) or self.vocab.label(code)


@dataclass(frozen=True)
class RangeField:
    """A closed numeric (int) or date range over one ``adsl`` column."""

    key: str
    column: str
    label: str
    kind: str  # "int" or "date"
    lo: Any = None  # fixed bounds (int fields); date bounds come from the data
    hi: Any = None


CHOICE_FIELDS: tuple[ChoiceField, ...] = (
    ChoiceField("cohort", "cohort", "Registry part", COHORT),
    ChoiceField("site", "tumour_site", "Tumour site", TUMOUR_SITE),
    ChoiceField("histology", "histology", "Histology", HISTOLOGY, "Not recorded"),
    ChoiceField("biomarker", "biomarker_basis", "Biomarker basis", BIOMARKER_BASIS,
                short_labels={"POLE": "POLE mutation"}),
    ChoiceField("lynch", "lynch", "Lynch syndrome", YES_NO_UNK, "Not recorded"),
    ChoiceField("ct", "ct", "Clinical T", CT_STAGE, "Not recorded"),
    ChoiceField("cn", "cn", "Clinical N", CN_STAGE, "Not recorded"),
    ChoiceField("ecog", "ecog", "ECOG", ECOG, "Not recorded"),
    ChoiceField("sex", "sex", "Sex", SEX),
    ChoiceField("regimen", "regimen_class", "Immunotherapy regimen", REGIMEN_CLASS, "No immunotherapy recorded"),
    ChoiceField("response", "restaging_response", "Restaging response", RESPONSE, "Not assessed"),
    ChoiceField("strategy", "initial_strategy", "Initial strategy", STRATEGY, "No strategy recorded",
                short_labels={"LE": "Local excision", "ESD": "ESD", "EMR": "EMR"}),
)
_AGE = SUBJECT.column("age")
RANGE_FIELDS: tuple[RangeField, ...] = (
    RangeField("age", "age", "Age (years)", "int", int(_AGE.min or 18), int(_AGE.max or 100)),
    RangeField("t0", "t0", "First immunotherapy dose (T0)", "date"),
)
FILTER_FIELDS: Mapping[str, ChoiceField | RangeField] = {f.key: f for f in (*CHOICE_FIELDS, *RANGE_FIELDS)}
FILTER_COLUMNS: frozenset[str] = frozenset(f.column for f in FILTER_FIELDS.values())
# Streamlit's own URL parameters: never ours to validate or drop.
RESERVED_PARAMS: frozenset[str] = frozenset({"embed", "embed_options"})


@dataclass(frozen=True)
class Notice:
    """A URL value that was dropped, and why (shown to the user)."""

    param: str
    value: str
    reason: str

    def __str__(self) -> str:
        v = self.value if len(self.value) <= MAX_URL_VALUE else self.value[:MAX_URL_VALUE] + "..."
        return f"`{self.param}={v}` ignored: {self.reason}"


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
                out.append(f"{f.label}: {', '.join(f.label_of(c) for c in codes)}")
        if self.age is not None:
            out.append(f"Age {self.age[0]}-{self.age[1]} years")
        if self.t0 is not None:
            out.append(f"T0 {self.t0[0].isoformat()} to {self.t0[1].isoformat()}")
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
    label: str
    options: tuple[tuple[str, str], ...]  # (URL value, label)
    default: str

    def __post_init__(self) -> None:
        if self.key in FILTER_FIELDS or self.key in RESERVED_PARAMS:
            raise ValueError(f"page option {self.key!r} clashes with a filter parameter")
        if self.default not in self.values:
            raise ValueError(f"page option {self.key}: default {self.default!r} is not an option")

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(v for v, _ in self.options)

    def label_of(self, value: str) -> str:
        return dict(self.options).get(value, value)


# ------------------------------------------------------------------------ URL parsing
def _as_list(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _parse_range(f: RangeField, values: list[str], notices: list[Notice],
                 date_bounds: tuple[dt.date, dt.date] | None) -> tuple[Any, Any] | None:
    joined = "&".join(values)
    if len(values) != 2:
        notices.append(Notice(f.key, joined, "a range needs exactly two values (from and to)"))
        return None
    try:
        if f.kind == "int":
            lo, hi = (int(v) for v in values)
        else:
            lo, hi = (dt.date.fromisoformat(v) for v in values)
    except (ValueError, TypeError):
        notices.append(Notice(f.key, joined, "not a valid " + ("whole number" if f.kind == "int" else "YYYY-MM-DD date")))
        return None
    if lo > hi:
        notices.append(Notice(f.key, joined, "the start is after the end"))
        return None
    if f.kind == "int" and (lo < f.lo or hi > f.hi):
        notices.append(Notice(f.key, joined, f"outside {f.lo}-{f.hi}"))
        return None
    if f.kind == "date" and date_bounds is not None:
        blo, bhi = date_bounds
        if hi < blo or lo > bhi:
            notices.append(Notice(f.key, joined, f"no patient started immunotherapy in that range ({blo} to {bhi})"))
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
                    notices.append(Notice(key, v, f"not a known {f.label.lower()} code"))
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
                notices.append(Notice(key, v, f"not one of {', '.join(opts[key].values)}"))
        else:
            notices.append(Notice(key, "&".join(values), "unknown parameter"))
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
