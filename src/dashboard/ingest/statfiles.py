"""SPSS ``.sav`` / ``.zsav``, Stata ``.dta``, SAS ``.sas7bdat`` / ``.xpt`` sources, through pyreadstat.

Every value arrives as text, like every other source: integral numbers without a decimal
point, dates ISO. Value labels (``1 = "Male"``) are kept beside the table so the mapping
wizard can offer them as the column's value map; the raw codes are what the mapping maps.
"""

from __future__ import annotations

import datetime as _dt
import math
from pathlib import Path
from typing import Any

import polars as pl

from ..i18n import _

STAT_SUFFIXES = {".sav": "sav", ".zsav": "sav", ".dta": "dta", ".sas7bdat": "sas7bdat", ".xpt": "xpt"}


class StatFileError(ValueError):
    """A statistics file that cannot be read; the message names the file and why."""


def value_text(v: Any) -> str | None:
    """One cell as text: None / NaN -> None, 3.0 -> "3", dates ISO."""
    if v is None:
        return None
    if isinstance(v, float):
        if math.isnan(v):
            return None
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    if isinstance(v, _dt.datetime):
        return v.date().isoformat() if v.time() == _dt.time(0) else v.isoformat(sep=" ")
    if isinstance(v, _dt.date):
        return v.isoformat()
    if hasattr(v, "isoformat") and hasattr(v, "to_pydatetime"):  # pandas Timestamp
        return value_text(v.to_pydatetime())
    s = str(v)
    return s if s.strip() != "" else None


def read_stat_file(path: Path, encoding: str | None = None) -> tuple[pl.DataFrame, dict[str, dict[str, str]], dict[str, str]]:
    """(text frame, value labels {column: {code text: label}}, variable labels {column: label})."""
    import pyreadstat

    kind = STAT_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise StatFileError(_("{name}: not an SPSS/Stata/SAS file (expected {suffixes})").format(name=path.name, suffixes=', '.join(sorted(STAT_SUFFIXES))))
    reader = {"sav": pyreadstat.read_sav, "dta": pyreadstat.read_dta, "sas7bdat": pyreadstat.read_sas7bdat,
              "xpt": pyreadstat.read_xport}[kind]
    kwargs: dict[str, Any] = {"apply_value_formats": False} if kind in {"sav", "dta"} else {}
    if encoding and kind in {"sas7bdat", "xpt", "dta"}:
        kwargs["encoding"] = encoding
    try:
        df, meta = reader(str(path), **kwargs)
    except Exception as exc:  # noqa: BLE001 - pyreadstat raises its own and OS errors; all mean unreadable
        raise StatFileError(_("{name}: not a readable {kind} file ({error}: {exc})").format(name=path.name, kind=kind, error=type(exc).__name__, exc=str(exc)[:200])) from None
    cols = {str(c): pl.Series(str(c), [value_text(v) for v in df[c].tolist()], dtype=pl.String) for c in df.columns}
    frame = pl.DataFrame(cols) if cols else pl.DataFrame()
    labels: dict[str, dict[str, str]] = {}
    for col, mapping in (getattr(meta, "variable_value_labels", None) or {}).items():
        labels[str(col)] = {value_text(k) or "": str(v) for k, v in mapping.items()}
    var_labels = {str(k): str(v) for k, v in (getattr(meta, "column_names_to_labels", None) or {}).items() if v}
    return frame, labels, var_labels
