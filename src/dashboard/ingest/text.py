"""Bytes of a delimited text file -> a :class:`~.model.RawTable` of text cells.

Shared by the CSV-folder and REDCap readers. Decisions are reported, never silent:

* encoding: UTF-8 (with or without BOM), UTF-16 with BOM (Excel "Unicode text"),
  otherwise GB18030 (Chinese Excel) or Windows-1252 (European Excel), chosen from the
  bytes; a file not in UTF-8 gets a warning naming the encoding used (``encoding_used``).
* delimiter: comma, semicolon or tab, whichever splits the header into most fields; a
  file not comma-separated gets a warning (``delimiter``).
* header limits: more than :data:`MAX_COLUMNS` columns or a header name longer than
  :data:`MAX_HEADER_NAME` characters is refused (``header_too_large``), not parsed.
* a line break inside a quoted cell is kept (free text); the row number of a record is
  its record number + 1 (header = row 1).
"""

from __future__ import annotations

import csv
import io

import polars as pl

from ..i18n import N_, _, fmt_int, pgettext
from .model import ROW, RawTable, dedupe_header, printable
from .report import ERROR, WARNING, Problem

MAX_COLUMNS = 5000  # a REDCap project of 200 instruments stays below; 100,000 is an attack
MAX_HEADER_NAME = 500  # characters of one header name
_BINARY_MAGIC = {
    b"PK\x03\x04": N_("a ZIP archive (an .xlsx workbook saved with a .csv name?)"),
    b"\xd0\xcf\x11\xe0": N_("a legacy Excel/OLE file (.xls)"),
    b"%PDF": N_("a PDF document"),
    b"\x89PNG": N_("a PNG image"),
    b"\x1f\x8b": N_("a gzip archive"),
}
ENCODING_NAMES = {"utf-8": "UTF-8", "utf-8-sig": N_("UTF-8 with BOM"), "utf-16": N_("UTF-16 (Excel 'Unicode text')"),
                  "gb18030": N_("GB18030/GBK (Chinese Excel)"), "cp1252": N_("Windows-1252 (Western European Excel)")}


def _delimiter_label(sep: str) -> str:
    labels = {",": pgettext("import", "comma"), ";": pgettext("import", "semicolon"), "\t": pgettext("import", "tab")}
    return labels.get(sep, sep)


def _looks_gbk(body: bytes) -> bool:
    """GBK/GB18030 text carries non-ASCII bytes in pairs; Windows-1252 text (ü, é, °)
    mostly one at a time between ASCII letters."""
    runs = []
    n = 0
    for b in body[:200_000]:
        if b >= 0x80:
            n += 1
        elif n:
            runs.append(n)
            n = 0
    if n:
        runs.append(n)
    if not runs:
        return False
    even = sum(1 for r in runs if r % 2 == 0)
    return even >= 0.8 * len(runs)


def decode_bytes(data: bytes, file: str) -> tuple[bytes | None, str, list[Problem]]:
    """(UTF-8 bytes without BOM, encoding used, problems) of a text file; ``None`` when it
    is not text at all (empty, binary)."""
    if len(data) == 0:
        return None, "", [Problem(file, None, None, None, "file_empty", _("the file is empty (0 bytes); expected a header row"))]
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as e:
            return None, "", [Problem(file, None, None, None, "encoding", _("starts like UTF-16 but does not decode ({reason})").format(reason=e.reason))]
        return _utf8(text, file, "utf-16")
    for magic, what in _BINARY_MAGIC.items():
        if data.startswith(magic):
            return None, "", [Problem(file, None, None, None, "file_binary", _("not a CSV file: it looks like {what}").format(what=_(what)))]
    bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    body = data[bom:]
    sample = body[:8192]
    if sample.count(b"\x00") > max(8, len(sample) // 100):
        return None, "", [Problem(file, None, None, None, "file_binary", _("not a CSV file: binary content (many NUL bytes)"))]
    try:
        _check_utf8(body)
        if not body[:65536].strip() and not body.strip():
            return None, "", [Problem(file, None, None, None, "file_empty", _("the file has no header row (only blank space)"))]
        return body, "utf-8-sig" if bom else "utf-8", []
    except UnicodeDecodeError as e:
        off = e.start + bom
        line = body[: e.start].count(b"\n") + 1
        nonprint = sum(1 for b in sample if b < 9 or 13 < b < 32)
        if nonprint > len(sample) // 20:
            return None, "", [Problem(file, None, None, None, "file_binary",
                                      _("not a CSV file: binary content (invalid UTF-8 at byte offset {off}, {nonprint} control "
                                         "bytes in the first {n})").format(off=off, nonprint=nonprint, n=len(sample)))]
        order = ("gb18030", "cp1252") if _looks_gbk(body) else ("cp1252", "gb18030")
        for enc in order:
            try:
                return _utf8(body.decode(enc), file, enc, first_bad=(off, line))
            except UnicodeDecodeError:
                continue
        return None, "", [Problem(file, line, None, repr(body[e.start:e.start + 4]), "encoding",
                                  _("not valid UTF-8 (byte 0x{byte} at byte offset {off}, line {line}), nor GB18030 or "
                                     "Windows-1252: save it as 'CSV UTF-8' in Excel").format(byte=format(body[e.start], '02x'), off=off, line=line))]


def _check_utf8(body: bytes, chunk: int = 16 << 20) -> None:
    """Raise UnicodeDecodeError (offsets into ``body``) unless it is UTF-8, without
    building one string of the whole file (a 2 GB export would double its memory)."""
    import codecs

    dec = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(body)
    for start in range(0, len(body), chunk):
        pending = len(dec.getstate()[0])  # bytes of a character split by the previous chunk
        try:
            dec.decode(bytes(view[start:start + chunk]), final=start + chunk >= len(body))
        except UnicodeDecodeError as e:
            raise UnicodeDecodeError("utf-8", body, start + e.start - pending, start + e.end - pending, e.reason) from None
    if not body:
        dec.decode(b"", final=True)


def _utf8(text: str, file: str, enc: str, first_bad: tuple[int, int] | None = None) -> tuple[bytes | None, str, list[Problem]]:
    text = text.lstrip("\ufeff")
    if not text.strip():
        return None, enc, [Problem(file, None, None, None, "file_empty", _("the file has no header row (only blank space)"))]
    where = _(" (first non-UTF-8 byte at byte offset {offset}, line {line})").format(offset=first_bad[0], line=first_bad[1]) if first_bad else ""
    msg = (_("this file is {encoding}, not UTF-8{where}: read as {encoding}; check names "
              "with accents or Chinese characters below, or save it as 'CSV UTF-8' to silence this note").format(encoding=_(ENCODING_NAMES[enc]), where=where))
    return text.encode("utf-8"), enc, [Problem(file, None, None, ENCODING_NAMES[enc], "encoding_used", msg, WARNING)]


def _first_line(body: bytes) -> str:
    """The first physical line (enough to choose the delimiter)."""
    end = body.find(b"\n", 0, 1 << 20)
    return body[: end if end >= 0 else 1 << 20].decode("utf-8", errors="replace")


def sniff_delimiter(body: bytes) -> str:
    line = _first_line(body)
    best, n_best = ",", 0
    for sep in (",", ";", "\t"):
        try:
            n = len(next(csv.reader([line], delimiter=sep)))
        except (csv.Error, StopIteration):
            n = 0
        if n > n_best:
            best, n_best = sep, n
    return best


SEP_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}  # the value column keeps these words


def parse_text(body: bytes, file: str, name: str) -> tuple[RawTable | None, list[Problem]]:
    """Parse UTF-8 delimited text into a :class:`RawTable` of text cells."""
    probs: list[Problem] = []
    sep = sniff_delimiter(body)
    if sep != ",":
        probs.append(Problem(file, None, None, SEP_NAMES[sep], "delimiter",
                             _("{delimiter}-separated (as Excel writes CSV in many European locales): read as such").format(delimiter=_delimiter_label(sep)), WARNING))
    line = _first_line(body)
    if line.count(sep) + 1 > MAX_COLUMNS:
        return None, probs + [Problem(file, 1, None, None, "header_too_large",
                                      _("the header has {n} columns (at most {limit}): this is not a registry table").format(n=fmt_int(line.count(sep) + 1), limit=fmt_int(MAX_COLUMNS)))]
    old = csv.field_size_limit()
    try:
        csv.field_size_limit(1 << 20)
        header = next(csv.reader(io.StringIO(body[: 4 << 20].decode("utf-8", errors="replace")), delimiter=sep))
    except (StopIteration, csv.Error) as e:
        return None, probs + [Problem(file, 1, None, None, "csv_parse", _("cannot read the header row: {error}").format(error=printable(e, 200)))]
    finally:
        csv.field_size_limit(old)
    header = [h.strip().lstrip("\ufeff").strip() for h in header]
    if len(header) > MAX_COLUMNS:
        return None, probs + [Problem(file, 1, None, None, "header_too_large",
                                      _("the header has {n} columns (at most {limit})").format(n=fmt_int(len(header)), limit=fmt_int(MAX_COLUMNS)))]
    long = [h for h in header if len(h) > MAX_HEADER_NAME]
    if long:
        return None, probs + [Problem(file, 1, printable(long[0], 40), None, "header_too_large",
                                      _("a header name of {n} characters (at most {limit}): this is not a table header").format(n=fmt_int(len(long[0])), limit=MAX_HEADER_NAME))]
    cols = dedupe_header(header)
    try:
        df = pl.read_csv(io.BytesIO(body), has_header=True, infer_schema=False, new_columns=cols, separator=sep,
                         raise_if_empty=False)
    except pl.exceptions.PolarsError as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return None, probs + [Problem(file, None, None, None, "csv_parse", _("not a well-formed CSV file: {error}").format(error=printable(msg, 300)))]
    if df.width != len(cols):
        return None, probs + [Problem(file, 1, None, None, "csv_parse", _("header has {n} columns but rows have {width}").format(n=len(cols), width=df.width))]
    df = df.with_row_index(ROW, offset=2).with_columns(pl.col(ROW).cast(pl.Int64))
    return RawTable(name, file, header, df, sep=sep), probs


# compatibility names (earlier API)
def decode_csv_bytes(data: bytes, file: str) -> tuple[bytes | None, list[Problem]]:
    body, _enc, probs = decode_bytes(data, file)
    return body, probs


def parse_csv_bytes(body: bytes, file: str, name: str) -> tuple[RawTable | None, list[Problem]]:
    return parse_text(body, file, name)


__all__ = ["ERROR", "WARNING", "decode_bytes", "parse_text", "sniff_delimiter"]
