"""Generate the import corpus: realistic inputs as hospitals export them.

Every case is built from the small valid registry of ``tests/malformed/valid_registry.py``
(6 patients, every table) by writing it the way a site's tool would (Excel in a European
or Chinese locale, LibreOffice, REDCap projects as sites adapt our dictionary), or by
breaking it in one hostile way. A case either LOADS, and then every cell must equal the
registry it encodes (``expect`` edits the expected tables where the input says something
else on purpose), or is REFUSED with a specific rule and phrase, the store unchanged.

``python tests/ingest_corpus/corpus.py OUT`` writes every case into OUT/<id>/ to look at.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import shutil
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import polars as pl

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "malformed"))
import valid_registry as vr  # noqa: E402

from dashboard.ingest import write_redcap, write_xlsx  # noqa: E402
from dashboard.ingest.redcap import DICTIONARY_COLUMNS, registry_to_redcap  # noqa: E402
from dashboard.schema import TABLES, TABLES_BY_NAME  # noqa: E402

Tables = dict[str, pl.DataFrame]


@dataclass
class Case:
    id: str
    build: Callable[[Path, Tables], Path]  # (empty work folder, typed tables) -> input path
    rule: str | None = None  # None: must load; else the refusal rule
    says: str = ""  # phrase of the refusal message (or of the warning named in ``warns``)
    warns: tuple[str, ...] = ()  # warning rules that must be reported
    infos: tuple[str, ...] = ()  # info rules that must be reported (decisions needing no action)
    expect: Callable[[Tables], Tables] | None = None  # edits to the expected tables
    options: dict = field(default_factory=dict)  # date_order / missing
    source_rows: dict[str, int] = field(default_factory=dict)  # file -> data rows the generator wrote


# ----------------------------------------------------------------------------- helpers
def text(typed: Tables) -> dict[str, pl.DataFrame]:
    """Typed tables -> canonical text frames (dates ISO, booleans true/false)."""
    out = {}
    for t in TABLES:
        df = typed[t.name]
        out[t.name] = df.with_columns(
            [pl.col(c.name).dt.strftime("%Y-%m-%d") if c.type == "date" else
             pl.col(c.name).cast(pl.String) for c in t.columns])
    return out


def write_csv_folder(folder: Path, frames: dict[str, pl.DataFrame], *, sep: str = ",", encoding: str = "utf-8",
                     crlf: bool = False, names: dict[str, str] | None = None, bom: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in frames.items():
        buf = io.StringIO()
        w = csv.writer(buf, delimiter=sep, lineterminator="\r\n" if crlf else "\n")
        w.writerow(df.columns)
        for r in df.iter_rows():
            w.writerow(["" if v is None else v for v in r])
        data = buf.getvalue().encode(encoding)
        if bom:
            data = b"\xef\xbb\xbf" + data
        (folder / (names or {}).get(name, f"{name}.csv")).write_bytes(data)
    return folder


def map_dates(frames: dict[str, pl.DataFrame], fmt: Callable[[dt.date], str], only: set[str] | None = None) -> dict[str, pl.DataFrame]:
    out = {}
    for t in TABLES:
        df = frames[t.name]
        if only is None or t.name in only:
            for c in t.columns:
                if c.type == "date":
                    df = df.with_columns(pl.col(c.name).map_elements(
                        lambda v: None if v is None else fmt(dt.date.fromisoformat(v)), return_dtype=pl.String))
        out[t.name] = df
    return out


def set_cell(frames, table, subject, column, value, nth=0):
    df = frames[table]
    idx = [i for i, s in enumerate(df["subject_id"].to_list()) if s == subject][nth]
    col = df[column].to_list()
    col[idx] = value
    frames[table] = df.with_columns(pl.Series(column, col, dtype=pl.String))
    return frames


def edit_typed(table, subject, column, value, nth=0):
    def fn(t: Tables) -> Tables:
        t = dict(t)
        df = t[table]
        idx = [i for i, s in enumerate(df["subject_id"].to_list()) if s == subject][nth]
        col = df[column].to_list()
        col[idx] = value
        t[table] = df.with_columns(pl.Series(column, col, dtype=df.schema[column]))
        return t
    return fn


def rows_of(typed: Tables, names=None) -> dict[str, int]:
    return {f"{t}.csv": typed[t].height for t in (names or typed)}


# ----------------------------------------------------------------------------- CSV
def csv_case(fn=None, **kw):
    def build(w: Path, typed: Tables) -> Path:
        frames = text(typed)
        if fn:
            frames = fn(frames) or frames
        return write_csv_folder(w / "export", frames, **kw)
    return build


def decimal_comma(frames):
    for t in TABLES:
        for c in t.columns:
            if c.type == "float":
                frames[t.name] = frames[t.name].with_columns(pl.col(c.name).str.replace(".", ",", literal=True))
    return frames


def raw_folder(edit: Callable[[Path], None], fn=None):
    def build(w: Path, typed: Tables) -> Path:
        d = csv_case(fn)(w, typed)
        edit(d)
        return d
    return build


def ghost_columns(d: Path):
    for p in d.glob("*.csv"):
        lines = p.read_text("utf-8").splitlines()
        p.write_text("\n".join(l + ",,," for l in lines) + "\n", encoding="utf-8")


def empty_rows(d: Path):
    for p in d.glob("*.csv"):
        lines = p.read_text("utf-8").splitlines()
        n = lines[0].count(",")
        out = [lines[0]] + [x for l in lines[1:] for x in (l, "," * n)]
        p.write_text("\n".join(out) + "\n" + "," * n + "\n", encoding="utf-8")


def rename_headers(table, mapping):
    def fn(frames):
        frames[table] = frames[table].rename(mapping)
        return frames
    return fn


def add_columns(table, cols):
    def fn(frames):
        frames[table] = frames[table].with_columns(pl.lit(v).alias(k) for k, v in cols.items())
        return frames
    return fn


def markers(frames):
    """Missing-value markers in cells that are empty in the registry."""
    marks = ["NA", "n/a", "-", ".", "N/A", "不详"]
    k = 0
    for t in ("subject", "assessment", "procedure"):
        df = frames[t]
        cols = {}
        for c in TABLES_BY_NAME[t].columns:
            if c.required or c.name == "subject_id":
                continue
            vals = df[c.name].to_list()
            for i, v in enumerate(vals):
                if v is None:
                    vals[i] = marks[k % len(marks)]
                    k += 1
            cols[c.name] = pl.Series(c.name, vals, dtype=pl.String)
        frames[t] = df.with_columns(**cols)
    return frames


def symlink_out(d: Path):
    outside = d.parent / "elsewhere"
    outside.mkdir()
    (d / "subject.csv").rename(outside / "subject.csv")
    os.symlink(outside / "subject.csv", d / "subject.csv")


def manifest(edit: bool):
    def e(d: Path):
        import hashlib
        shas = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in d.glob("*.csv")}
        (d / "manifest.json").write_text(json.dumps({"source": "synthetic", "files_sha256": shas,
                                                     "store_meta": {"seed": "1", "n_patients": "6"}}), encoding="utf-8")
        if edit:
            p = d / "subject.csv"
            p.write_text(p.read_text("utf-8").replace("PKUCH", "PKUCH2", 1), encoding="utf-8")
    return e


def totals_row(d: Path):
    p = d / "subject.csv"
    lines = p.read_text("utf-8").splitlines()
    n = lines[0].count(",")
    p.write_text("\n".join(lines) + "\n" + "Total" + "," * n + "\n", encoding="utf-8")


def huge_header(ncols: int = 0, cell: int = 0):
    def e(d: Path):
        p = d / "subject.csv"
        lines = p.read_text("utf-8").splitlines()
        if ncols:
            lines[0] = lines[0] + "," + ",".join(f"c{i}" for i in range(ncols))
        if cell:
            lines[0] = lines[0] + "," + "x" * cell
        p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return e


def escape_header(d: Path):
    p = d / "subject.csv"
    lines = p.read_text("utf-8").splitlines()
    lines[0] = lines[0].replace("subject_id", "subject_id\x1b[2J\x1b]0;pwned\x07", 1)
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")


def last_row_without_id(d: Path):
    """A real patient row at the end whose id was lost: not a totals row, must fail."""
    p = d / "subject.csv"
    lines = p.read_text("utf-8").splitlines()
    p.write_text("\n".join(lines + ["," + lines[-1].split(",", 1)[1]]) + "\n", encoding="utf-8")


def title_row(d: Path):
    """A sheet with a title saved as CSV by Excel: the title cell, empty cells, an empty row."""
    p = d / "follow_up.csv"
    p.write_text('"Follow-up export, Hospital A, 2024-06-30",,,,\n,,,,\n' + p.read_text("utf-8"), encoding="utf-8")


def data_row_above_header(d: Path):
    p = d / "follow_up.csv"
    p.write_text("S001,2024-01-01,ALIVE,,\n" + p.read_text("utf-8"), encoding="utf-8")


def duplicate_file(d: Path):
    shutil.copy(d / "subject.csv", d / "SUBJECT .csv")


def rename_files(mapping):
    def e(d: Path):
        for a, b in mapping.items():
            (d / a).rename(d / b)
    return e


def cp1252(frames):
    frames = set_cell(frames, "subject", "S002", "centre", "Zürich-Universitätsspital")
    return frames


def chinese_text(frames):
    frames = set_cell(frames, "ae", "S001", "term", "腹泻，水样便（3级）")
    return frames


def quoted_newline(frames):
    return set_cell(frames, "ae", "S001", "term", "Diarrhoea,\nwatery\r\nday 3")


# ----------------------------------------------------------------------------- workbooks
def xlsx_case(sheet_names: dict[str, str] | None = None, hidden: set[str] = frozenset(), extra_sheets=(), cells=None,
              title_row: str | None = None, totals: str | None = None, serial_dates=False, text_dates=None, saved_formula=False,
              text_date_sheets: set[str] | None = None, above: tuple | None = None, merge: bool = False):
    """A workbook as Excel saves it (xlsxwriter, then fullCalcOnLoad removed so cached
    values count as saved). ``above``: rows written above the header of every sheet (a
    string = a title in column A, merged across the table when ``merge``; a list = cells;
    None = an empty row)."""
    def build(w: Path, typed: Tables) -> Path:
        import xlsxwriter

        p = w / "registry.xlsx"
        w.mkdir(parents=True, exist_ok=True)
        wb = xlsxwriter.Workbook(str(p), {"strings_to_formulas": False, "strings_to_numbers": False, "strings_to_urls": False})
        datefmt = wb.add_format({"num_format": "yyyy-mm-dd"})
        items = [(t.name, (sheet_names or {}).get(t.name, t.name)) for t in TABLES] + list(extra_sheets)
        for tname, sname in items:
            t = TABLES_BY_NAME[tname]
            df = typed[tname]
            ws = wb.add_worksheet(sname)
            if sname in hidden:
                ws.hide()
            off = 0
            if title_row and tname == "subject":
                ws.write_string(0, 0, title_row)
                off = 2
            for k, row in enumerate(above or ()):
                if isinstance(row, str) and merge:
                    ws.merge_range(k, 0, k, len(t.columns) - 1, row, wb.add_format({"bold": True, "align": "center"}))
                elif isinstance(row, str):
                    ws.write_string(k, 0, row)
                elif row is not None:
                    for j, v in enumerate(row):
                        ws.write_string(k, j, v)
            off += len(above or ())
            for j, c in enumerate(t.columns):
                ws.write_string(off, j, c.name)
            for j, c in enumerate(t.columns):
                for i, v in enumerate(df[c.name].to_list(), start=1 + off):
                    if v is None:
                        continue
                    if c.type == "date":
                        if serial_dates:
                            ws.write_number(i, j, (v - dt.date(1899, 12, 30)).days)
                        elif text_dates and (text_date_sheets is None or tname in text_date_sheets):
                            ws.write_string(i, j, text_dates(v))
                        else:
                            ws.write_datetime(i, j, dt.datetime.combine(v, dt.time()), datefmt)
                    elif c.type == "bool":
                        ws.write_boolean(i, j, v)
                    elif c.type in ("int", "float"):
                        if saved_formula and c.name == "age":
                            ws.write_formula(i, j, f"={int(v) - 4}+4", None, v)
                        else:
                            ws.write_number(i, j, v)
                    else:
                        ws.write_string(i, j, v)
            if totals and tname == totals:
                ws.write_string(df.height + 1, 0, "Total")
                ws.write_formula(df.height + 1, 1, f"=COUNTA(B2:B{df.height + 1})", None, df.height)
            if cells and tname in cells:
                for (i, j), v in cells[tname].items():
                    ws.write_string(i, j, v)
        wb.close()
        _excel_saved(p)
        return p
    return build


def _excel_saved(p: Path, dtd: bytes | None = None):
    """Rewrite a workbook as if Excel had saved it: no fullCalcOnLoad; optionally a DTD."""
    data = p.read_bytes()
    zin = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in zin.infolist():
            b = zin.read(info.filename)
            if info.filename == "xl/workbook.xml":
                b = b.replace(b' fullCalcOnLoad="1"', b"")
            if dtd and info.filename == "xl/sharedStrings.xml":
                b = b.replace(b"?>", b"?>" + dtd, 1)
            z.writestr(info, b)
    p.write_bytes(out.getvalue())


def xlsx_dtd(kind: str):
    def build(w: Path, typed: Tables) -> Path:
        p = xlsx_case()(w, typed)
        if kind == "xxe":
            dtd = b'<!DOCTYPE sst [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        else:
            dtd = b'<!DOCTYPE sst [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
        _excel_saved(p, dtd)
        return p
    return build


def ods_case(hidden: set[str] = frozenset(), dtd: bool = False):
    """An OpenDocument spreadsheet as LibreOffice writes it: typed cells (float, date,
    boolean, string)."""
    def build(w: Path, typed: Tables) -> Path:
        from xml.sax.saxutils import escape

        w.mkdir(parents=True, exist_ok=True)
        p = w / "registry.ods"
        body = []
        styles = ('<office:automatic-styles><style:style style:name="ta1" style:family="table"><style:table-properties '
                  'table:display="true"/></style:style><style:style style:name="ta2" style:family="table">'
                  '<style:table-properties table:display="false"/></style:style></office:automatic-styles>')
        for t in TABLES:
            df = typed[t.name]
            rows = ["<table:table-row>" + "".join(f'<table:table-cell office:value-type="string"><text:p>{c.name}</text:p></table:table-cell>'
                                                  for c in t.columns) + "</table:table-row>"]
            for r in df.iter_rows(named=True):
                cells = []
                for c in t.columns:
                    v = r[c.name]
                    if v is None:
                        cells.append("<table:table-cell/>")
                    elif c.type == "date":
                        cells.append(f'<table:table-cell office:value-type="date" office:date-value="{v.isoformat()}"><text:p>{v.isoformat()}</text:p></table:table-cell>')
                    elif c.type == "bool":
                        b = "true" if v else "false"
                        cells.append(f'<table:table-cell office:value-type="boolean" office:boolean-value="{b}"><text:p>{b.upper()}</text:p></table:table-cell>')
                    elif c.type in ("int", "float"):
                        cells.append(f'<table:table-cell office:value-type="float" office:value="{v!r}"><text:p>{v}</text:p></table:table-cell>')
                    else:
                        cells.append(f'<table:table-cell office:value-type="string"><text:p>{escape(v)}</text:p></table:table-cell>')
                rows.append("<table:table-row>" + "".join(cells) + "</table:table-row>")
            style = "ta2" if t.name in hidden else "ta1"
            body.append(f'<table:table table:name="{t.name}" table:style-name="{style}">' + "".join(rows) + "</table:table>")
        head = '<?xml version="1.0" encoding="UTF-8"?>'
        if dtd:
            head += '<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        content = (head + '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
                   'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
                   'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" office:version="1.2">' + styles +
                   "<office:body><office:spreadsheet>" + "".join(body) + "</office:spreadsheet></office:body></office:document-content>")
        manifest_xml = ('<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
                        '<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
                        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>')
        with zipfile.ZipFile(p, "w") as z:
            z.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")
            z.writestr("META-INF/manifest.xml", manifest_xml)
            z.writestr("content.xml", content)
        return p
    return build


def bytes_file(name: str, data: bytes):
    def build(w: Path, typed: Tables) -> Path:
        w.mkdir(parents=True, exist_ok=True)
        (w / name).write_bytes(data)
        return w / name
    return build


# ----------------------------------------------------------------------------- REDCap
def redcap_case(edit_records=None, edit_dict=None, sep=",", stem="REGISTRY", meta=None, shuffle=False):
    """write_redcap, then the site's changes to the records frame and dictionary rows;
    ``meta(folder, records)`` writes the project's event definition beside them;
    ``shuffle`` writes the records rows in a seeded random order."""
    def build(w: Path, typed: Tables) -> Path:
        records, rows = registry_to_redcap(typed)
        if edit_dict:
            rows = edit_dict(rows) or rows
        if edit_records:
            edited = edit_records(records)
            records = records if edited is None else edited
        d = w / "rc"
        d.mkdir(parents=True)
        if meta:
            meta(d, records)
        if shuffle:
            records = records.sample(fraction=1.0, shuffle=True, seed=20260715)
        buf = io.StringIO()
        wr = csv.writer(buf, delimiter=sep, lineterminator="\n")
        wr.writerow(records.columns)
        for r in records.iter_rows():
            wr.writerow(["" if v is None else v for v in r])
        (d / f"{stem}_DATA_2024-06-30_1200.csv").write_text(buf.getvalue(), encoding="utf-8")
        buf = io.StringIO()
        wr = csv.writer(buf, lineterminator="\n")
        wr.writerow(DICTIONARY_COLUMNS)
        for r in rows:
            wr.writerow([r[k] for k in DICTIONARY_COLUMNS])
        (d / f"{stem}_DataDictionary_2024-06-30.csv").write_text(buf.getvalue(), encoding="utf-8")
        return d
    return build


def rc_rename_record_id(new):
    def rec(df):
        return df.rename({"record_id": new})
    def dic(rows):
        rows[0]["Variable / Field Name"] = new
    return rec, dic


def rc_events(records: pl.DataFrame) -> pl.DataFrame:
    """Longitudinal: subject + follow_up in 'enrolment_arm_1'; baseline assessments as a
    repeating instrument of enrolment; later assessments in the REPEATING EVENT
    'surveillance_arm_1' (instrument column empty, instances restarting at 1)."""
    base = records.filter(pl.col("redcap_repeat_instrument").is_null()).with_columns(pl.lit("enrolment_arm_1").alias("redcap_event_name"))
    other = records.filter(pl.col("redcap_repeat_instrument").is_not_null() & (pl.col("redcap_repeat_instrument") != "assessment"))
    other = other.with_columns(pl.lit("enrolment_arm_1").alias("redcap_event_name"))
    asm = records.filter(pl.col("redcap_repeat_instrument") == "assessment")
    first = asm.filter(pl.col("redcap_repeat_instance") == "1").with_columns(pl.lit("enrolment_arm_1").alias("redcap_event_name"))
    later = asm.filter(pl.col("redcap_repeat_instance") != "1").with_columns(
        pl.lit("surveillance_arm_1").alias("redcap_event_name"), pl.lit(None, pl.String).alias("redcap_repeat_instrument"),
        (pl.col("redcap_repeat_instance").cast(pl.Int64) - 1).cast(pl.String).over("record_id").alias("redcap_repeat_instance"))
    out = pl.concat([base, other, first, later])
    order = {"enrolment_arm_1": 0, "surveillance_arm_1": 1}
    return out.with_columns(pl.col("redcap_event_name").replace_strict(order).alias("__e")).sort("record_id", "__e").drop("__e")


def rc_follow_up_several(records: pl.DataFrame) -> pl.DataFrame:
    """follow_up filled at enrolment (stale) and again in a later 'month_24_arm_1' event."""
    from dashboard.ingest.redcap import field_names

    fu_cols = [f for (t, _), f in field_names().items() if t == "follow_up"] + ["follow_up_complete"]
    base = records.filter(pl.col("redcap_repeat_instrument").is_null())
    later = base.select("record_id", *fu_cols).with_columns(pl.lit("month_24_arm_1").alias("redcap_event_name"))
    stale = base.with_columns(pl.lit("2022-12-31").alias("last_contact_date"), pl.lit("1").alias("vital_status"),
                              pl.lit(None, pl.String).alias("death_date"))
    rest = records.filter(pl.col("redcap_repeat_instrument").is_not_null())
    out = pl.concat([stale, rest, later], how="diagonal")
    order = {"baseline_arm_1": 0, "month_24_arm_1": 1}
    return out.with_columns(pl.col("redcap_event_name").replace_strict(order).alias("__e")).sort("record_id", "__e", maintain_order=True).drop("__e")


def rc_site_fields(rows):
    def field_row(name, form, ftype, label, choices="", validation=""):
        r = dict.fromkeys(DICTIONARY_COLUMNS, "")
        r.update({"Variable / Field Name": name, "Form Name": form, "Field Type": ftype, "Field Label": label,
                  "Choices, Calculations, OR Slider Labels": choices, "Text Validation Type OR Show Slider Number": validation})
        return r
    i = next(k for k, r in enumerate(rows) if r["Form Name"] == "subject") + 1
    rows[i:i] = [field_row("site_note", "subject", "notes", "Notes of the site"),
                 field_row("bmi", "subject", "calc", "BMI", "[weight]/([height]*[height])"),
                 field_row("consent_doc", "subject", "file", "Signed consent"),
                 field_row("section_intro", "subject", "descriptive", "Please fill in")]
    rows.append(field_row("smoker", "site_extras", "yesno", "Smoker"))
    rows.append(field_row("hospital_ward", "site_extras", "text", "Ward"))


def rc_site_records(df):
    return df.with_columns(pl.lit("note").alias("site_note"), pl.lit("24.1").alias("bmi"), pl.lit("").alias("consent_doc"),
                           pl.lit("1").alias("smoker"), pl.lit("W3").alias("hospital_ward"),
                           pl.lit("").alias("redcap_survey_identifier"), pl.lit("2024-01-01 10:00:00").alias("subject_timestamp"),
                           pl.lit("site_a").alias("redcap_data_access_group"))


def rc_dag_records(df):
    """A multi-centre project: no centre field, one data access group per site (REDCap's
    unique group names), on every row of the record."""
    dag = pl.when(pl.col("record_id") == "S002").then(pl.lit("beijing_pkuch")).otherwise(pl.lit("pkuch"))
    return df.drop("centre").with_columns(dag.alias("redcap_data_access_group"))


def rc_no_centre_field(rows):
    rows[:] = [r for r in rows if r["Variable / Field Name"] != "centre"]
    return rows


def dag_centres(t: Tables) -> Tables:
    out = dict(t)
    out["subject"] = t["subject"].with_columns(
        pl.when(pl.col("subject_id") == "S002").then(pl.lit("beijing_pkuch")).otherwise(pl.lit("pkuch")).alias("centre"))
    return out


def rc_field(field, **changes):
    def dic(rows):
        for r in rows:
            if r["Variable / Field Name"] == field:
                r.update(changes)
    return dic


def rc_values(column, fn):
    def rec(df):
        return df.with_columns(pl.col(column).map_elements(fn, return_dtype=pl.String))
    return rec


def rc_labels_export(df):
    return df.rename({"record_id": "Record ID", "redcap_event_name": "Event Name", "redcap_repeat_instrument": "Repeat Instrument",
                      "redcap_repeat_instance": "Repeat Instance"})


def rc_classic(df):
    return df.drop("redcap_event_name")


def rc_two_arms(df):
    arm2 = {"S005", "S006"}
    return df.with_columns(pl.when(pl.col("record_id").is_in(list(arm2))).then(pl.lit("screening_arm_2"))
                           .otherwise(pl.lit("enrolment_arm_1")).alias("redcap_event_name"))


def rc_missing_codes(df):
    # S003 has no ecog / histology / lynch in the registry: the site wrote Missing Data Codes
    base = (pl.col("record_id") == "S003") & pl.col("redcap_repeat_instrument").is_null()
    return df.with_columns(pl.when(base).then(pl.lit("UNK")).otherwise(pl.col("ecog")).alias("ecog"),
                           pl.when(base).then(pl.lit("NASK")).otherwise(pl.col("lynch")).alias("lynch"),
                           pl.when(base).then(pl.lit("NA")).otherwise(pl.col("cea_baseline")).alias("cea_baseline"))


def rc_procedure_in_two_events(df):
    """procedure used in two events: instances restart at 1 in the second one."""
    base = df.filter(pl.col("redcap_repeat_instrument").is_null())
    rest = df.filter(pl.col("redcap_repeat_instrument").is_not_null())
    ae = rest.filter(pl.col("redcap_repeat_instrument") == "ae")
    stay = ae.filter(pl.col("redcap_repeat_instance") == "1")
    moved = ae.filter(pl.col("redcap_repeat_instance") != "1").with_columns(
        pl.lit("surgery_arm_1").alias("redcap_event_name"),
        (pl.col("redcap_repeat_instance").cast(pl.Int64).rank("ordinal").over("record_id")).cast(pl.String).alias("redcap_repeat_instance"))
    assert moved.height and (moved["redcap_repeat_instance"] == "1").any()  # instance numbers restart in the 2nd event
    others = rest.filter(pl.col("redcap_repeat_instrument") != "ae")
    out = pl.concat([base, others, stay, moved])
    order = {"baseline_arm_1": 0, "surgery_arm_1": 1}
    return out.with_columns(pl.col("redcap_event_name").replace_strict(order).alias("__e")).sort("record_id", "__e", maintain_order=True).drop("__e")


def _move(df, record, instrument, instance, event, new_instance, from_event="baseline_arm_1", **fields):
    """Put one repeating-instrument row of ``record`` into ``event`` as ``new_instance``
    (REDCap numbers instances per event), with some of its fields as the site typed them."""
    hit = ((pl.col("record_id") == record) & (pl.col("redcap_repeat_instrument") == instrument) & (pl.col("redcap_repeat_instance") == instance)
           & (pl.col("redcap_event_name") == from_event))
    assert df.filter(hit).height == 1, (record, instrument, instance)
    return df.with_columns(pl.when(hit).then(pl.lit(event)).otherwise(pl.col("redcap_event_name")).alias("redcap_event_name"),
                           pl.when(hit).then(pl.lit(new_instance)).otherwise(pl.col("redcap_repeat_instance")).alias("redcap_repeat_instance"),
                           *[pl.when(hit).then(pl.lit(v)).otherwise(pl.col(k)).alias(k) for k, v in fields.items()])


RC_SURGERY_EVENTS = ("baseline_arm_1", "salvage_arm_1", "completion_arm_1", "pathology_review_arm_1")


def _by_event(df):
    order = {e: i for i, e in enumerate(RC_SURGERY_EVENTS)}
    return df.with_columns(pl.col("redcap_event_name").replace_strict(order).alias("__e")).sort("record_id", "__e", maintain_order=True).drop("__e")


def rc_links_renumbered(df):
    """Procedures in the events where they happened, with the numbers the site saw in REDCap:
    S003's salvage TME is instance 2 of 'salvage_arm_1' (instance 1 was deleted), and the
    regrowth (baseline event) names it as procedure 2; S006's completion TME is instance 1
    of 'completion_arm_1', beside its episode (instance 1) and its pathology (procedure 1).
    Renumbering gives S003 procedure 1 and S006 procedure 2 / episode 2: every link must follow."""
    df = _move(df, "S003", "strategy_episode", "2", "salvage_arm_1", "1")
    df = _move(df, "S003", "procedure", "1", "salvage_arm_1", "2", episode_no="1")
    df = _move(df, "S003", "pathology", "1", "salvage_arm_1", "1", procedure_no="2")
    df = df.with_columns(pl.when((pl.col("record_id") == "S003") & (pl.col("redcap_repeat_instrument") == "onc_event"))
                         .then(pl.lit("2")).otherwise(pl.col("salvage_procedure_no")).alias("salvage_procedure_no"))
    df = _move(df, "S006", "strategy_episode", "2", "completion_arm_1", "1")
    df = _move(df, "S006", "procedure", "2", "completion_arm_1", "1", episode_no="1")
    df = _move(df, "S006", "pathology", "2", "completion_arm_1", "1", procedure_no="1")
    return _by_event(df)


def rc_link_ambiguous(df):
    """S006's second pathology sits in an event of its own and says procedure 1: instance 1
    of 'procedure' exists in two events of S006, renumbered 1 and 2."""
    df = rc_links_renumbered(df)
    return _by_event(_move(df, "S006", "pathology", "1", "pathology_review_arm_1", "1", from_event="completion_arm_1"))


def rc_link_missing(df):
    """S003's regrowth names procedure 5, which no event of S003 holds."""
    df = rc_links_renumbered(df)
    return df.with_columns(pl.when((pl.col("record_id") == "S003") & (pl.col("redcap_repeat_instrument") == "onc_event"))
                           .then(pl.lit("5")).otherwise(pl.col("salvage_procedure_no")).alias("salvage_procedure_no"))


def _defined_events(records: pl.DataFrame, extra=()) -> list[str]:
    """The events of the records in the order the project defines them (the order the
    unshuffled export has them in), plus events the project defines but nobody filled."""
    seen = records["redcap_event_name"].unique(maintain_order=True).to_list()
    return list(dict.fromkeys([*seen, *extra]))


def rc_events_csv(d: Path, records: pl.DataFrame) -> None:
    """'Define My Events' > Download events (CSV), with a screening event nobody filled."""
    events = _defined_events(records, ("month_60_arm_1",))
    with (d / "REGISTRY_Events_2024-06-30.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["event_name", "arm_num", "day_offset", "offset_min", "offset_max", "unique_event_name", "custom_event_label"])
        for i, e in enumerate(events):
            w.writerow([e.removesuffix("_arm_1").replace("_", " ").title(), "1", str(i * 90), "0", "0", e, ""])


def rc_instrument_mapping_csv(d: Path, records: pl.DataFrame) -> None:
    """'Designate Instruments for My Events' > Download instrument-event mappings (CSV)."""
    with (d / "REGISTRY_InstrumentDesignations_2024-06-30.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["arm_num", "unique_event_name", "form"])
        for e in _defined_events(records):
            for t in TABLES:
                w.writerow(["1", e, t.name])


def rc_project_xml(d: Path, records: pl.DataFrame) -> None:
    """The project XML (CDISC ODM with REDCap's attributes), events listed out of order
    with the Protocol's OrderNumber giving the order."""
    events = _defined_events(records)
    refs = "".join(f'<StudyEventRef StudyEventOID="Event.{e}" OrderNumber="{i + 1}" Mandatory="No"/>' for i, e in enumerate(events))
    defs = "".join(f'<StudyEventDef OID="Event.{e}" Name="{e}" Type="Common" Repeating="No" redcap:EventName="{e}" '
                   f'redcap:UniqueEventName="{e}" redcap:ArmNum="1" redcap:ArmName="Arm 1">'
                   '<FormRef FormOID="Form.subject" OrderNumber="1" Mandatory="No" redcap:FormName="subject"/></StudyEventDef>'
                   for e in reversed(events))
    (d / "REGISTRY_2024-06-30_1200.REDCap.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8" ?>\n<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" '
        'xmlns:redcap="https://projectredcap.org" ODMVersion="1.3.1"><Study OID="Project.registry">'
        f'<MetaDataVersion OID="Metadata.registry" Name="registry"><Protocol>{refs}</Protocol>{defs}</MetaDataVersion></Study></ODM>\n',
        encoding="utf-8")


def rc_events_csv_of_another_project(d: Path, records: pl.DataFrame) -> None:
    with (d / "OTHER_Events_2024-06-30.csv").open("w", encoding="utf-8", newline="") as fh:
        fh.write("event_name,arm_num,day_offset,offset_min,offset_max,unique_event_name,custom_event_label\n"
                 "Enrolment,1,0,0,0,enrolment_arm_1,\n")


def rc_empty_event_rows(df):
    """An event row per record with nothing filled in (only its form status) and a row of
    the site's own instrument: both read, reported, nothing loaded from them."""
    empty = df.filter(pl.col("redcap_repeat_instrument").is_null()).select("record_id").with_columns(
        pl.lit("month_6_arm_1").alias("redcap_event_name"), pl.lit("0").alias("qol_complete"))
    return pl.concat([df, empty], how="diagonal")


def compose(*fns):
    def f(x):
        for fn in fns:
            y = fn(x)
            x = x if y is None else y
        return x
    return f


def _rid_rec(df):
    return rc_rename_record_id("study_id")[0](df)


def _rid_dic(rows):
    rc_rename_record_id("study_id")[1](rows)
    return rows


def _both_dic(rows):
    rc_rename_record_id("study_id")[1](rows)
    rc_site_fields(rows)
    return rows


def _unknown_choice(df):
    return df.with_columns(pl.when(pl.col("record_id") == "S002").then(pl.lit("7777")).otherwise(pl.col("sex")).alias("sex"))


def _big_dropdown(rows):
    for r in rows:
        if r["Variable / Field Name"] == "sex":
            r["Choices, Calculations, OR Slider Labels"] = "1, Female | 2, Male | " + " | ".join(f"{i}, choice number {i} " + "x" * 200 for i in range(3, 2000))


def _ctrl_label(rows):
    for r in rows:
        if r["Variable / Field Name"] == "sex":
            r["Choices, Calculations, OR Slider Labels"] = "1, Female | 2, Male\x1b[31m\x07"


def _yesno_radio(rows):
    for r in rows:
        if r["Variable / Field Name"] == "immune_related":
            r["Field Type"] = "radio"
            r["Choices, Calculations, OR Slider Labels"] = "1, Yes | 2, No"


def _yesno_values(df):
    return df.with_columns(pl.col("immune_related").replace({"0": "2"}))


def _datetime_dict(rows):
    for r in rows:
        if r["Variable / Field Name"] == "registration_date":
            r["Text Validation Type OR Show Slider Number"] = "datetime_ymd"


def _datetime_values(df):
    return df.with_columns(pl.when(pl.col("registration_date").is_not_null()).then(pl.col("registration_date") + " 09:30")
                           .alias("registration_date"))


def _comma_dict(rows):
    for r in rows:
        if r["Variable / Field Name"] in ("distance_av_cm", "cea_baseline"):
            r["Text Validation Type OR Show Slider Number"] = "number_comma_decimal"


def _comma_values(df):
    return df.with_columns(pl.col("distance_av_cm").str.replace(".", ",", literal=True), pl.col("cea_baseline").str.replace(".", ",", literal=True))


# ----------------------------------------------------------------------------- the corpus
DMY = lambda d: f"{d.day:02d}/{d.month:02d}/{d.year}"  # noqa: E731
MDY = lambda d: f"{d.month}/{d.day}/{d.year}"  # noqa: E731
YMD_SLASH = lambda d: f"{d.year}/{d.month}/{d.day}"  # noqa: E731


def _drop_beijing(frames):
    return set_cell(frames, "subject", "S002", "centre", "Zürich-Universitätsspital")


CASES: list[Case] = [
    # --- CSV folders as Excel and LibreOffice write them
    Case("csv_canonical", csv_case()),
    Case("csv_semicolon_decimal_comma", csv_case(decimal_comma, sep=";"), warns=("delimiter", "decimal_comma")),
    Case("csv_tab_separated", csv_case(sep="\t"), warns=("delimiter",)),
    Case("csv_utf8_bom_crlf", csv_case(crlf=True, bom=True)),
    Case("csv_utf16_excel_unicode_text", csv_case(sep="\t", encoding="utf-16", crlf=True), warns=("encoding_used", "delimiter")),
    Case("csv_gb18030_chinese_excel", csv_case(chinese_text, encoding="gb18030"), warns=("encoding_used",),
         expect=edit_typed("ae", "S001", "term", "腹泻，水样便（3级）")),
    Case("csv_windows1252_european_excel", csv_case(_drop_beijing, sep=";", encoding="cp1252"), warns=("encoding_used",),
         expect=edit_typed("subject", "S002", "centre", "Zürich-Universitätsspital")),
    Case("csv_quoted_line_break_in_free_text", csv_case(quoted_newline),
         expect=edit_typed("ae", "S001", "term", "Diarrhoea,\nwatery\r\nday 3")),
    Case("csv_excel_ghost_columns", raw_folder(ghost_columns), warns=("ghost_columns",)),
    Case("csv_empty_rows", raw_folder(empty_rows), warns=("empty_row",)),
    Case("csv_header_case_and_units", csv_case(rename_headers("subject", {"subject_id": "Subject_ID", "age": "Age (years)",
                                                                          "registration_date": "Registration Date",
                                                                          "distance_av_cm": "distance_av_cm (cm)"})),
         warns=("header_renamed",)),
    Case("csv_extra_site_columns", csv_case(add_columns("subject", {"hospital_note": "x", "MRN-free comment": "y"})),
         warns=("extra_columns",)),
    Case("csv_missing_markers", csv_case(markers), warns=("missing_marker",)),
    Case("csv_missing_markers_not_configured", csv_case(markers), rule="vocabulary", options={"missing": ()}),
    Case("csv_dates_chinese_excel_ymd_slash", csv_case(lambda f: map_dates(f, YMD_SLASH)), warns=("date_order",)),
    Case("csv_dates_dmy_detected", csv_case(lambda f: map_dates(f, DMY, {"ici_exposure"})), warns=("date_order",), says="day/month/year"),
    Case("csv_dates_mdy_detected", csv_case(lambda f: map_dates(f, MDY, {"ici_exposure"})), warns=("date_order",), says="month/day/year"),
    Case("csv_dates_ambiguous_refused", csv_case(lambda f: map_dates(f, DMY, {"subject"})), rule="date_order_ambiguous",
         says="--date-order"),
    Case("csv_dates_ambiguous_declared_dmy", csv_case(lambda f: map_dates(f, DMY)), options={"date_order": "DMY"}, warns=("date_order",)),
    Case("csv_dates_declared_mdy_on_dmy_file", csv_case(lambda f: map_dates(f, DMY, {"ici_exposure"})), options={"date_order": "MDY"},
         rule="date_invalid", says="month/day/year"),
    Case("csv_dates_mixed_orders_refused", csv_case(lambda f: set_cell(set_cell(map_dates(f, DMY, {"ici_exposure"}), "ici_exposure", "S002",
                                                                                  "end_date", "5/13/2022"), "ici_exposure", "S002", "start_date", "3/5/2022")),
         rule="date_order_mixed", says="one date order"),
    Case("csv_file_names_case_and_spaces", raw_folder(rename_files({"subject.csv": "Subject.csv", "follow_up.csv": "Follow up.csv",
                                                                   "ici_exposure.csv": "ICI-exposure.csv"}))),
    Case("csv_two_files_same_table", raw_folder(duplicate_file), rule="duplicate_file", says="both table 'subject'"),
    Case("csv_symlink_out_of_folder", raw_folder(symlink_out), rule="symlink", says="not followed"),
    Case("csv_manifest_synthetic_intact", raw_folder(manifest(False))),
    Case("csv_manifest_synthetic_but_edited", raw_folder(manifest(True)), warns=("manifest_mismatch",),
         expect=edit_typed("subject", "S001", "centre", "PKUCH2")),
    Case("csv_totals_row", raw_folder(totals_row), warns=("totals_row",)),
    Case("csv_last_row_without_subject_id_is_not_a_total", raw_folder(last_row_without_id), rule="required", says="subject_id"),
    Case("csv_title_row_above_header_skipped", raw_folder(title_row), infos=("title_rows",), says="row 1 above the header (row 3)"),
    Case("csv_data_row_above_header_refused", raw_folder(data_row_above_header), rule="header_row", says="the column names are in row 2"),
    Case("csv_header_100k_columns", raw_folder(huge_header(ncols=100_000)), rule="header_too_large", says="100,"),
    Case("csv_header_64kb_name", raw_folder(huge_header(cell=65_536)), rule="header_too_large", says="65,536 characters"),
    Case("csv_terminal_escape_in_header", raw_folder(escape_header), rule="missing_column", says="subject_id"),
    Case("csv_binary_named_csv", raw_folder(lambda d: (d / "ae.csv").write_bytes(bytes(range(256)) * 40)), rule="file_binary"),
    Case("csv_formula_injection", csv_case(lambda f: set_cell(f, "ae", "S001", "term", "=HYPERLINK(\"http://x\")")),
         rule="formula_injection"),
    # --- workbooks
    Case("xlsx_excel", xlsx_case()),
    Case("xlsx_sheet_names_case_spaces_separators", xlsx_case({"subject": "Subject", "follow_up": "Follow up", "ici_exposure": "ICI-Exposure ",
                                                               "strategy_episode": "STRATEGY EPISODE"})),
    Case("xlsx_hidden_stale_follow_up_refused", xlsx_case({"follow_up": "follow_up "}, hidden={"follow_up"},
                                                          extra_sheets=[("follow_up", "follow_up")]),
         rule="duplicate_sheet", says="'follow_up ' and 'follow_up'"),
    Case("xlsx_hidden_sheet_read_and_reported", xlsx_case(hidden={"ae"}), warns=("hidden_sheet",)),
    Case("xlsx_formula_saved_values", xlsx_case(saved_formula=True), warns=("formula_values",)),
    Case("xlsx_excel_serial_numbers_in_date_columns", xlsx_case(serial_dates=True), warns=("excel_serial_date",)),
    Case("xlsx_text_dates_dmy_declared", xlsx_case(text_dates=DMY), options={"date_order": "DMY"}, warns=("date_order",)),
    Case("xlsx_text_dates_dmy_detected_across_sheets", xlsx_case(text_dates=DMY), warns=("date_order",), says="day/month/year"),
    Case("xlsx_text_dates_ambiguous_refused", xlsx_case(text_dates=DMY, text_date_sheets={"subject", "procedure"}),
         rule="date_order_ambiguous", says="we never guess"),
    Case("xlsx_title_row_above_header_skipped", xlsx_case(title_row="Registry export 2024 - Hospital A"), infos=("title_rows",),
         says="row 1 above the header (row 3) is a title"),
    Case("xlsx_chinese_merged_title_rows_skipped", xlsx_case(above=("北京大学肿瘤医院 直肠癌等待观察 数据库 2019-2024", "导出日期：2024-06-30", None),
                                                             merge=True), infos=("title_rows",), says="rows 1, 2 above the header (row 4)"),
    Case("xlsx_empty_rows_above_header", xlsx_case(above=(None, None))),
    Case("xlsx_data_row_above_header_refused", xlsx_case(above=(["S999", "RETRO", "PKUCH", "2022-01-01", "ELIGIBLE", "50", "F"],)),
         rule="header_row", says="row(s) 1 above them hold data"),
    Case("xlsx_totals_row", xlsx_case(totals="subject"), warns=("totals_row",)),
    Case("xlsx_chinese_free_text", xlsx_case(cells={"ae": {(1, 2): "腹泻，水样便"}}),
         expect=edit_typed("ae", "S001", "term", "腹泻，水样便")),
    Case("xlsx_external_entity", xlsx_dtd("xxe"), rule="file_unsafe", says="XML entities"),
    Case("xlsx_entity_expansion_bomb", xlsx_dtd("bomb"), rule="file_unsafe"),
    Case("xlsx_truncated", lambda w, t: bytes_file("registry.xlsx", xlsx_case()(w / "x", t).read_bytes()[:3000])(w, t),
         rule="file_unreadable", says="not a readable .xlsx"),
    Case("ods_libreoffice_booleans_dates", ods_case()),
    Case("ods_hidden_sheet", ods_case(hidden={"qol"}), warns=("hidden_sheet",)),
    Case("ods_external_entity", ods_case(dtd=True), rule="file_unsafe"),
    Case("xls_not_a_workbook", bytes_file("registry.xls", b"\xd0\xcf\x11\xe0" + b"\x00" * 600), rule="file_unreadable", says=".xls"),
    # --- REDCap projects as sites build them
    Case("redcap_our_dictionary", redcap_case()),
    Case("redcap_study_id_record_id", redcap_case(_rid_rec, _rid_dic)),
    Case("redcap_repeating_event_surveillance", redcap_case(rc_events), warns=("redcap_renumbered", "redcap_event_order_rows")),
    Case("redcap_shuffled_rows_ordered_by_events_csv", redcap_case(rc_events, meta=rc_events_csv, shuffle=True),
         warns=("redcap_renumbered",)),
    Case("redcap_shuffled_rows_ordered_by_instrument_mapping", redcap_case(rc_links_renumbered, meta=rc_instrument_mapping_csv, shuffle=True),
         warns=("redcap_renumbered", "redcap_reference_renumbered")),
    Case("redcap_shuffled_rows_ordered_by_project_xml", redcap_case(rc_follow_up_several, meta=rc_project_xml, shuffle=True),
         warns=("redcap_follow_up_latest",)),
    Case("redcap_events_csv_of_another_project_refused", redcap_case(rc_events, meta=rc_events_csv_of_another_project),
         rule="redcap_event_unknown", says="surveillance_arm_1"),
    Case("redcap_follow_up_in_several_events", redcap_case(rc_follow_up_several), warns=("redcap_follow_up_latest",)),
    Case("redcap_instrument_in_two_events", redcap_case(rc_procedure_in_two_events), warns=("redcap_renumbered",)),
    Case("redcap_links_follow_renumbered_procedures", redcap_case(rc_links_renumbered),
         warns=("redcap_renumbered", "redcap_reference_renumbered"), says="salvage_procedure_no"),
    Case("redcap_link_to_renumbered_procedure_ambiguous", redcap_case(rc_link_ambiguous), rule="redcap_reference_ambiguous",
         says="exists in events baseline_arm_1, completion_arm_1"),
    Case("redcap_link_to_missing_instance_refused", redcap_case(rc_link_missing), rule="redcap_reference_missing",
         says="salvage_procedure_no 5 of record S003"),
    Case("redcap_data_access_group_as_centre", redcap_case(rc_dag_records, rc_no_centre_field), warns=("redcap_dag_as_centre",),
         says="redcap_data_access_group", expect=dag_centres),
    Case("redcap_site_fields_survey_dag", redcap_case(compose(_rid_rec, rc_site_records), _both_dic), warns=("redcap_ignored_fields",)),
    Case("redcap_datetime_field", redcap_case(_datetime_values, _datetime_dict), warns=("redcap_datetime",)),
    Case("redcap_decimal_comma_validation", redcap_case(_comma_values, _comma_dict)),
    Case("redcap_yesno_built_as_radio", redcap_case(_yesno_values, _yesno_radio)),
    Case("redcap_missing_data_codes", redcap_case(rc_missing_codes), warns=("redcap_missing_code",)),
    Case("redcap_empty_event_rows_reported", redcap_case(rc_empty_event_rows), warns=("redcap_row_without_data",)),
    Case("redcap_semicolon_export", redcap_case(sep=";"), warns=("delimiter",)),
    Case("redcap_classic_project_no_events", redcap_case(rc_classic)),
    Case("redcap_two_arms", redcap_case(rc_two_arms)),
    Case("redcap_labels_export_refused", redcap_case(rc_labels_export), rule="redcap_labels_export", says="labels export"),
    Case("redcap_unknown_choice", redcap_case(_unknown_choice), rule="redcap_unknown_choice", says="choices of field 'sex'"),
    Case("redcap_unknown_choice_huge_dropdown", redcap_case(_unknown_choice, _big_dropdown), rule="redcap_unknown_choice",
         says="1999 choices"),
    Case("redcap_control_characters_in_choice_label", redcap_case(None, _ctrl_label), rule="redcap_unmapped_choice"),
    Case("redcap_dictionary_of_another_project", redcap_case(_rid_rec), rule="missing_column", says="record id"),
]


def build_all(out: Path, typed: Tables) -> list[Path]:
    paths = []
    for c in CASES:
        paths.append(c.build(out / c.id, typed))
    return paths


if __name__ == "__main__":
    from dashboard.ingest import validate_path

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "corpus-out")
    valid = vr.write_valid(out / "_valid")
    typed = validate_path(valid).tables
    for c in CASES:
        print(c.id, c.build(out / c.id, typed))
