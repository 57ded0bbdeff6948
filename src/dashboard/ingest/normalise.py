"""Step 2 of the pipeline: turn what sites write into the canonical text the validator
checks, reporting every decision (warnings) and every refusal (errors).

Per table, in order:

1. header (CSV and workbook tables): Excel "ghost" columns (no header, no value) are
   dropped; header names are matched ignoring case, spaces, separators and a unit in
   brackets (``Subject_ID``, ``Age (years)``) when the match is unambiguous
   (``header_renamed``); columns that are not registry columns are ignored with one
   warning (``extra_columns``).
2. rows: empty rows are dropped (``empty_row``); a last row labelled Total, Sum, 合计... is dropped
   (``totals_row``). Each is reported with its row.
3. missing-value markers (``NA``, ``n/a``, ``-``, ``.``, ``N/A``, ``不详``; configurable)
   become empty cells (``missing_marker``), except where the marker is a code of the column.
4. numbers: a decimal comma (``5,5``) in a decimal column is read as ``5.5`` (``decimal_comma``).
5. dates: a datetime keeps its date (``datetime_date``); an Excel serial number in a date
   column becomes its date (``excel_serial_date``); dates written as text with ``/``, ``.``
   or ``-`` follow ONE date order per file (``YMD`` ``2021/3/15``, ``DMY`` ``15/03/2021``,
   ``MDY`` ``3/15/2021``), declared (:class:`Options`) or detected when unambiguous
   (``date_order``); a file whose order cannot be told is refused (``date_order_ambiguous``),
   never guessed.

The mapping stage (a site's own spreadsheet) slots in after this step and before validation.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field

import polars as pl

from ..schema import TABLES_BY_NAME, VOCABULARIES, Table
from .model import ROW, SKIP, RawRegistry, RawTable, dedupe_header, printable, table_key
from ..i18n import N_, _, fmt_int
from .report import ERROR, PROBLEM_SCHEMA, WARNING, Problem, message_expr

DEFAULT_MISSING = ("NA", "N/A", "n/a", "-", ".", "不详")
DATE_ORDERS = {"YMD": N_("year/month/day"), "DMY": N_("day/month/year"), "MDY": N_("month/day/year")}  # show with _()
TOTAL_WORDS = re.compile(r"^\s*(total|totals|sum|grand total|合计|总计|小计|总数)\s*[:：]?\s*$", re.I)
_TEXT_DATE = r"^(\d{1,4})[/.\-](\d{1,2})[/.\-](\d{1,4})$"
_ISO = r"^\d{4}-\d{2}-\d{2}$"
_DATETIME = r"^(\d{4}-\d{2}-\d{2})[ T](\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)$"
EXCEL_EPOCH = _dt.date(1899, 12, 30)


@dataclass(frozen=True)
class Options:
    """Choices a data manager makes for a whole input (command line / browser)."""

    date_order: str | None = None  # "YMD" | "DMY" | "MDY"; None = detect when unambiguous
    missing: tuple[str, ...] = field(default=DEFAULT_MISSING)  # cell values read as missing

    def __post_init__(self) -> None:
        if self.date_order is not None and self.date_order.upper() not in DATE_ORDERS:
            raise ValueError(_("date order must be one of {orders}, not {value}").format(
                orders=", ".join(DATE_ORDERS), value=repr(self.date_order)))
        if self.date_order is not None:
            object.__setattr__(self, "date_order", self.date_order.upper())


def _unit_free(h: str) -> str:
    return table_key(re.sub(r"\(.*?\)|\[.*?\]|（.*?）", " ", h))


def _problems(df: pl.DataFrame, file: str, column: str | None, rule: str, value: pl.Expr, message: pl.Expr | str,
              severity: str = WARNING) -> pl.DataFrame:
    msg = pl.lit(message) if isinstance(message, str) else message
    return df.select(pl.lit(file).alias("file"), pl.col(ROW).cast(pl.Int64).alias("row"), pl.lit(column, pl.String).alias("column"),
                     value.cast(pl.String).str.slice(0, 200).alias("value"), pl.lit(rule).alias("rule"),
                     msg.cast(pl.String).alias("message"), pl.lit(severity).alias("severity")).cast(PROBLEM_SCHEMA)


def _data_cols(df: pl.DataFrame) -> list[str]:
    return [c for c in df.columns if not c.startswith("__")]


def _header(raw: RawRegistry, rt: RawTable, t: Table) -> None:
    df = rt.frame
    cols = dedupe_header(rt.header)
    known = set(t.column_names)
    keys: dict[str, list[str]] = {}
    for c in t.column_names:
        keys.setdefault(table_key(c), []).append(c)
    ghost = [c for h, c in zip(rt.header, cols) if h == "" and df[c].str.strip_chars().fill_null("").str.len_bytes().max() in (0, None)]
    if ghost:
        raw.problems.append(Problem(rt.file, rt.header_row, None, None, "ghost_columns",
                                    _("{n} column(s) with neither a header nor a value (Excel 'ghost' columns) dropped").format(
                                        n=fmt_int(len(ghost))), WARNING))
    renamed: list[tuple[str, str]] = []
    extra: list[str] = []
    new_header: list[str] = []
    rename: dict[str, str] = {}
    drop: list[str] = list(ghost)
    taken = {h for h in rt.header if h in known}
    for h, c in zip(rt.header, cols):
        if c in ghost:
            continue
        if h in known or h == "":
            new_header.append(h)
            continue
        cand = keys.get(table_key(h)) or keys.get(_unit_free(h)) or []
        if len(cand) == 1 and cand[0] not in taken:
            taken.add(cand[0])
            renamed.append((h, cand[0]))
            rename[c] = cand[0]
            new_header.append(cand[0])
        else:
            extra.append(h)
            drop.append(c)
    if renamed:
        raw.problems.append(Problem(rt.file, rt.header_row, None, None, "header_renamed",
                                    _("header names read as registry columns: {renamed}").format(renamed=", ".join(
                                        _("'{header}' as {column}").format(header=printable(a, 60), column=b) for a, b in renamed)),
                                    WARNING))
    if extra:
        shown = ", ".join(f"'{printable(x, 60)}'" for x in extra[:30])
        if len(extra) > 30:
            shown = _("{shown} and {n} more").format(shown=shown, n=fmt_int(len(extra) - 30))
        raw.problems.append(Problem(rt.file, rt.header_row, None, None, "extra_columns",
                                    _("{n} column(s) that are not columns of table '{table}' are ignored: {shown}").format(
                                        n=fmt_int(len(extra)), table=t.name, shown=shown), WARNING))
    df = df.drop(drop).rename(rename)
    rt.frame, rt.header = df, new_header


def _rows(raw: RawRegistry, rt: RawTable, t: Table) -> None:
    df = rt.frame
    data = _data_cols(df)
    if not data or df.height == 0:
        return
    blank = pl.all_horizontal([pl.col(c).is_null() | pl.col(c).str.contains(r"^\s*$") for c in data])
    empty = df.filter(blank)
    if empty.height:
        raw.problem_frames.append(_problems(empty, rt.file, None, "empty_row", pl.lit(None), _("empty row dropped")))
        df = df.filter(~blank)
    if df.height:
        # a totals row: the LAST row, labelled Total/Sum/合计 in its first filled cell (a row
        # merely missing its subject id stays, and fails validation loudly)
        last = df.tail(1)
        first = next((last[c][0] for c in data if last[c][0] not in (None, "")), None)
        if first is not None and TOTAL_WORDS.match(first):
            raw.problem_frames.append(_problems(last, rt.file, None, "totals_row", pl.lit(first),
                                                _("a totals row after the data ('{label}'): dropped").format(label=printable(first, 40))))
            df = df.head(df.height - 1)
    rt.frame = df


def _variants(markers: tuple[str, ...]) -> list[str]:
    out = set()
    for m in markers:
        out |= {m, m.lower(), m.upper(), m.title(), m.capitalize()}
    return sorted(out)


def _missing(raw: RawRegistry, rt: RawTable, t: Table, markers: tuple[str, ...]) -> None:
    """Cells equal to a marker (any letter case) become empty; one pass over the table."""
    if not markers:
        return
    marks = _variants(markers)
    df = rt.frame
    cols = [c for c in t.columns if c.name in df.columns]
    if not cols or df.height == 0:
        return

    def hit(c):
        h = pl.col(c.name).is_in(marks)
        if c.type == "code":
            h = h & ~pl.col(c.name).is_in(VOCABULARIES[c.vocab].codes)  # type: ignore[index]
        return h

    n = df.select([hit(c).sum().alias(c.name) for c in cols]).row(0, named=True)
    counts = [(c.name, n[c.name]) for c in cols if n[c.name]]
    if counts:
        hitcols = {name for name, _ in counts}
        rt.frame = df.with_columns(pl.when(hit(c)).then(None).otherwise(pl.col(c.name)).alias(c.name) for c in cols if c.name in hitcols)
        raw.problems.append(Problem(rt.file, None, ", ".join(n for n, _ in counts), None, "missing_marker",
                                    _("{n} cell(s) holding a missing-value marker ({markers}) read as empty: {counts}").format(
                                        n=fmt_int(sum(k for _c, k in counts)), markers=", ".join(markers),
                                        counts=", ".join(f"{c} {fmt_int(k)}" for c, k in counts)), WARNING))


def _decimal_comma(raw: RawRegistry, rt: RawTable, t: Table) -> None:
    df = rt.frame
    counts = []
    exprs = []
    floats = [c for c in t.columns if c.type == "float" and c.name in df.columns]
    if not floats:
        return
    has = df.select([pl.col(c.name).str.contains(",", literal=True).any().alias(c.name) for c in floats]).row(0, named=True)
    for c in floats:
        if not has[c.name]:
            continue
        hit = pl.col(c.name).str.contains(r"^\s*[-+]?\d+,\d+\s*$")
        n = df.select(hit.sum()).item()
        if n:
            counts.append((c.name, n))
            exprs.append(pl.when(hit).then(pl.col(c.name).str.replace(",", ".", literal=True)).otherwise(pl.col(c.name)).alias(c.name))
    if exprs:
        rt.frame = df.with_columns(exprs)
        raw.problems.append(Problem(rt.file, None, ", ".join(n for n, _ in counts), None, "decimal_comma",
                                    _("decimal comma read as a decimal point (5,5 = 5.5) in {counts}").format(counts=", ".join(
                                        _("{column} ({n} cells)").format(column=c, n=fmt_int(k)) for c, k in counts)), WARNING))


def _date_cols(rt: RawTable, t: Table) -> list[str]:
    """Date columns holding anything other than YYYY-MM-DD (checked cheaply, in one pass)."""
    cols = [c.name for c in t.columns if c.type == "date" and c.name in rt.frame.columns]
    if not cols or rt.frame.height == 0:
        return []
    iso_like = lambda c: (pl.col(c).str.len_bytes() == 10) & (pl.col(c).str.slice(4, 1) == "-") & (pl.col(c).str.slice(7, 1) == "-")  # noqa: E731
    other = rt.frame.select([(pl.col(c).is_not_null() & ~iso_like(c)).any().alias(c) for c in cols]).row(0, named=True)
    return [c for c in cols if other[c]]


def _dates_simple(raw: RawRegistry, rt: RawTable, t: Table) -> None:
    """Datetimes -> date; Excel serial numbers -> date."""
    df = rt.frame
    cols = _date_cols(rt, t)
    exprs = []
    timed = serial = 0
    for c in cols:
        s = pl.col(c).str.strip_chars()
        dt = s.str.extract(_DATETIME, 1)
        t_of_day = s.str.extract(_DATETIME, 2)
        with_time = df.select((dt.is_not_null() & ~t_of_day.str.contains(r"^0?0:00(:00(\.0+)?)?$")).sum()).item()
        timed += with_time
        is_serial = s.str.contains(r"^\d{5}(\.0+)?$") if raw.format != "redcap" else pl.lit(False)
        n_serial = df.select(is_serial.sum()).item()
        serial += n_serial
        days = s.str.extract(r"^(\d{5})", 1).cast(pl.Int64, strict=False)
        as_date = (pl.lit(EXCEL_EPOCH) + pl.duration(days=days)).dt.strftime("%Y-%m-%d")
        exprs.append(pl.when(dt.is_not_null()).then(dt).when(is_serial).then(as_date).otherwise(pl.col(c)).alias(c))
    if exprs:
        rt.frame = df.with_columns(exprs)
    if timed:
        raw.problems.append(Problem(rt.file, None, ", ".join(cols), None, "datetime_date",
                                    _("{n} date-time value(s): the date is kept, the time of day dropped").format(n=fmt_int(timed)),
                                    WARNING))
    if serial:
        raw.problems.append(Problem(rt.file, None, ", ".join(cols), None, "excel_serial_date",
                                    _("{n} Excel serial number(s) in date columns (a date cell formatted as a number) "
                                      "read as dates").format(n=fmt_int(serial)), WARNING))


def _file_date_order(raw: RawRegistry, tables: list[tuple[RawTable, Table]], declared: str | None, file: str) -> None:
    """One date order for all text dates of one file (a CSV file; a whole workbook, all
    sheets; a REDCap records file)."""
    parts = []
    for rt, t in tables:
        for c in _date_cols(rt, t):
            s = rt.frame.select(pl.col(c).str.strip_chars().alias("v"), ROW).filter(
                pl.col("v").str.contains(_TEXT_DATE) & ~pl.col("v").str.contains(_ISO))
            if s.height:
                parts.append(s.with_columns(pl.lit(rt.name).alias("t"), pl.lit(c).alias("c")))
    if not parts:
        return
    v = pl.concat(parts)
    v = v.with_columns(pl.col("v").str.extract(_TEXT_DATE, i).alias(f"p{i}") for i in (1, 2, 3))
    ymd = v.filter(pl.col("p1").str.len_chars() == 4)
    other = v.filter(pl.col("p1").str.len_chars() < 4)
    a, b = other["p1"].cast(pl.Int64), other["p2"].cast(pl.Int64)
    a_big, b_big = bool((a > 12).any()), bool((b > 12).any())
    n = v.height
    example = lambda cond: other.filter(cond)["v"][0] if other.filter(cond).height else (other["v"][0] if other.height else "")  # noqa: E731
    if declared:
        order, why = declared, _("declared date order {order}").format(order=declared)
    elif other.height == 0:
        order, why = "YMD", _("year first, e.g. '{example}'").format(example=ymd["v"][0])
    elif a_big and b_big:
        raw.problems.append(Problem(file, None, ", ".join(sorted(set(v["c"]))), f"{example(pl.col('p1').cast(pl.Int64) > 12)} / "
                                    f"{example(pl.col('p2').cast(pl.Int64) > 12)}", "date_order_mixed",
                                    _("the dates of this file mix day-first ('{day_first}') and month-first ('{month_first}') "
                                      "writing: one file must use one date order; correct the file or write dates as "
                                      "YYYY-MM-DD").format(day_first=example(pl.col('p1').cast(pl.Int64) > 12),
                                                           month_first=example(pl.col('p2').cast(pl.Int64) > 12))))
        _skip({rt.name: rt for rt, _ in tables}, other)
        return
    elif a_big:
        order, why = "DMY", _("detected: a first number above 12, e.g. '{example}'").format(
            example=example(pl.col('p1').cast(pl.Int64) > 12))
    elif b_big:
        order, why = "MDY", _("detected: a second number above 12, e.g. '{example}'").format(
            example=example(pl.col('p2').cast(pl.Int64) > 12))
    else:
        raw.problems.append(Problem(file, None, ", ".join(sorted(set(other["c"]))), other["v"][0], "date_order_ambiguous",
                                    _("{n} date(s) such as '{example}' could be day/month/year or month/day/year and none "
                                      "has a number above 12 to tell: declare the date order (--date-order DMY or MDY on the "
                                      "command line; 'Date order' in the browser), we never guess").format(
                                        n=fmt_int(other.height), example=other['v'][0])))
        _skip({rt.name: rt for rt, _ in tables}, other)
        return
    raw.date_orders[file] = order
    raw.problems.append(Problem(file, None, ", ".join(sorted(set(v["c"]))), None, "date_order",
                                _("{n} date(s) written as text read as {order} ({why})").format(
                                    n=fmt_int(n), order=_(DATE_ORDERS[order]), why=why), WARNING))
    by = {rt.name: rt for rt, _ in tables}
    for (tname, col), g in v.group_by(["t", "c"]):
        rt = by[tname]
        if order == "DMY":
            y, m, d = "p3", "p2", "p1"
        elif order == "MDY":
            y, m, d = "p3", "p1", "p2"
        else:
            y, m, d = "p1", "p2", "p3"
        g = g.with_columns(pl.when(pl.col("p1").str.len_chars() == 4).then(pl.col("p1")).otherwise(pl.col(y)).alias("y"),
                           pl.when(pl.col("p1").str.len_chars() == 4).then(pl.col("p2")).otherwise(pl.col(m)).alias("m"),
                           pl.when(pl.col("p1").str.len_chars() == 4).then(pl.col("p3")).otherwise(pl.col(d)).alias("d"))
        g = g.with_columns(pl.format("{}-{}-{}", pl.col("y"), pl.col("m").str.zfill(2), pl.col("d").str.zfill(2)).alias("iso"))
        g = g.with_columns(pl.when(pl.col("y").str.len_chars() == 4).then(pl.col("iso").str.to_date("%Y-%m-%d", strict=False)).alias("ok"))
        bad = g.filter(pl.col("ok").is_null())
        if bad.height:
            raw.problem_frames.append(_problems(bad, rt.file, col, "date_invalid", pl.col("v"),
                                                message_expr(_("'{value}' read as {order} is not a real calendar date"),
                                                             value=pl.col("v"), order=_(DATE_ORDERS[order])),
                                                ERROR))
        good = g.filter(pl.col("ok").is_not_null()).select(ROW, pl.col("iso").alias("__iso"))
        f = rt.frame.join(good, on=ROW, how="left")
        f = f.with_columns(pl.coalesce("__iso", col).alias(col)).drop("__iso")
        if bad.height:
            skip = f"{SKIP}{col}"
            hit = pl.col(ROW).is_in(bad[ROW].implode())
            f = f.with_columns((pl.col(skip) | hit) if skip in f.columns else hit.alias(skip))
        rt.frame = f


def _skip(by: dict[str, RawTable], cells: pl.DataFrame) -> None:
    """Mark cells already reported so the validator does not report them again."""
    for (tname, col), g in cells.group_by(["t", "c"]):
        rt = by[tname]
        skip = f"{SKIP}{col}"
        hit = pl.col(ROW).is_in(g[ROW].implode())
        rt.frame = rt.frame.with_columns(((pl.col(skip) | hit) if skip in rt.frame.columns else hit).alias(skip))


def _steps(raw: RawRegistry, rt: RawTable, t: Table, options: Options) -> None:
    if rt.origin == "table":
        _header(raw, rt, t)
    _rows(raw, rt, t)
    _missing(raw, rt, t, options.missing)
    _decimal_comma(raw, rt, t)
    _dates_simple(raw, rt, t)


def normalise(raw: RawRegistry, options: Options | None = None) -> RawRegistry:
    """Normalise every table of ``raw`` in place (see the module docstring); returns it.

    Tables a reader left to be read later (:attr:`RawRegistry.deferred`, one file each) are
    normalised when they are read (:func:`normalise_table`)."""
    options = options or Options()
    by_file: dict[str, list[tuple[RawTable, Table]]] = {}
    for name, rt in raw.tables.items():
        t = TABLES_BY_NAME[name]
        _steps(raw, rt, t, options)
        whole = rt.file.split("[", 1)[0] if raw.format in ("xlsx", "ods", "xls") else rt.file  # a workbook is one file
        by_file.setdefault(whole, []).append((rt, t))
    for file, tables in by_file.items():
        _file_date_order(raw, tables, options.date_order, file)
    for name, load in list(raw.deferred.items()):
        def read_and_normalise(name=name, load=load) -> None:
            load()
            if name in raw.tables:
                normalise_table(raw, name, options)
        raw.deferred[name] = read_and_normalise
    return raw


def normalise_table(raw: RawRegistry, name: str, options: Options) -> None:
    """Normalise one table that is a file of its own (a CSV of the canonical folder)."""
    rt, t = raw.tables[name], TABLES_BY_NAME[name]
    _steps(raw, rt, t, options)
    _file_date_order(raw, [(rt, t)], options.date_order, rt.file)
