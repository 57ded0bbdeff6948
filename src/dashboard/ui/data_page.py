"""The Data page (issue 8): the current dataset, data quality, browser import, audit trail.

Import from the browser (data managers only): an upload is *staged* into a fresh
temporary folder by :func:`stage_upload`, which refuses anything hostile before a byte
reaches the disk (oversized files, names carrying a path, zip bombs, symlinks, absolute
or ``..`` entries, too many files, file types other than CSV/XLSX), then validated with
the same validator as the command line; every problem is listed (file, row, column,
value, rule). Only a confirmed, valid upload is loaded, with the command line's atomic
swap (:func:`dashboard.ingest.import_registry`); the staged folder is always deleted.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import stat
import tempfile
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterator, Mapping, Sequence

import polars as pl
import streamlit as st

from .. import audit
from ..access import ROLE_LABELS
from ..filters import CohortFilter
from ..i18n import N_, _, fmt_decimal, fmt_int, get_language, ngettext
from ..queries.quality import (
    NO_CONTACT_MONTHS,
    select_completeness,
    select_followup,
    select_lost_contact,
    select_validator_findings,
)
from ..schema import COHORT
from ..stats.km import kaplan_meier
from ..store import BACKUP_DIR, Store
from ..tables.export import mask_identifiers
from .data import cached_query, get_store
from .export import LISTING_ROWS
from .page import PageContext
from .text import md_text
from .warm import warm_in_background

MB = 1024 * 1024
MAX_UPLOAD_MB = int(os.environ.get("DASHBOARD_MAX_UPLOAD_MB", "200"))  # per upload, all files together
MAX_UNPACKED_MB = int(os.environ.get("DASHBOARD_MAX_UNPACKED_MB", "2000"))  # a zip's total uncompressed size
MAX_FILES = 50  # entries in a zip (or files in one upload)
MAX_RATIO = 200  # uncompressed / compressed size of one zip entry (CSV compresses ~10-20x)
ALLOWED = (".csv", ".xlsx", ".xlsm", ".ods", ".xls")
WORKBOOKS = (".xlsx", ".xlsm", ".ods", ".xls")
EXTRA_FILES = {"manifest.json"}  # a canonical export's manifest (keeps the synthetic label)
_IGNORED = re.compile(r"(^|/)(__MACOSX/|\.DS_Store$|Thumbs\.db$|[^/]*\.(md|txt)$)", re.IGNORECASE)
_SAFE_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
STAGED = "_data_staged"
MAX_SHOWN_PROBLEMS = 5000  # per-cell problems kept in the session; the full list is a download


class UploadRefused(ValueError):
    """An upload refused before anything is stored; the message says why (in the
    language of the run that refused it)."""


def labelled(frame: pl.DataFrame, labels: Mapping[str, str]) -> pl.DataFrame:
    """``frame`` for the screen: its columns renamed to their labels (English source
    strings marked with ``N_``) in the current language; columns not listed stay."""
    return frame.rename({c: _(labels[c]) for c in frame.columns if c in labels})


def _check_name(name: str, what: str = N_("file name")) -> str:
    """A plain file name: no directory part, no drive, no control characters, no dot-dot.
    Any other character (Chinese, spaces, ``&``, commas, brackets) is fine: the file is
    stored under :func:`safe_name`, and shown as the user gave it."""
    if not name or "/" in name or "\\" in name or ".." in name or ":" in name or len(name) > 255 \
            or any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise UploadRefused(_("refused: the {what} {name} is not a plain file name (it carries a path or "
                              "control characters)").format(what=_(what), name=repr(name)))
    return name


def safe_name(name: str, index: int = 0) -> str:
    """The name a file is stored under: ASCII letters, digits, ``._-`` only (so a name
    keeps what the readers look for, e.g. ``Follow up.csv`` -> ``Follow_up.csv``,
    ``随访_DATA_2024.csv`` -> ``DATA_2024.csv``); ``upload-<n>`` when nothing is left."""
    p = PurePosixPath(name)
    stem = _SAFE_CHARS.sub("_", p.stem).strip("_.") or f"upload-{index + 1}"
    suffix = _SAFE_CHARS.sub("", p.suffix.lower())
    return f"{stem[:120]}{suffix}"


def staged_names(names: Sequence[str]) -> dict[str, str]:
    """{stored name: name as uploaded}; stored names are unique (``-2`` appended)."""
    out: dict[str, str] = {}
    for i, n in enumerate(names):
        s = safe_name(n, i)
        while s.lower() in {k.lower() for k in out}:
            p = PurePosixPath(s)
            s = f"{p.stem}-{i + 1}{p.suffix}"
        out[s] = n
    return out


def shown_as_uploaded(frame: pl.DataFrame, names: dict[str, str]) -> pl.DataFrame:
    """Problems with the stored file names replaced by the names the user gave."""
    if frame.height == 0 or not names:
        return frame
    expr = pl.col("file")
    for stored, given in names.items():
        if stored != given:
            expr = pl.when(pl.col("file").str.starts_with(stored)).then(
                pl.lit(given) + pl.col("file").str.slice(len(stored))).otherwise(expr)
    return frame.with_columns(expr.alias("file"))


def _check_zip_entries(zf: zipfile.ZipFile, label: str, *, allow_types: bool = True) -> list[zipfile.ZipInfo]:
    """The entries to extract, after refusing every dangerous one (before any extraction)."""
    infos = zf.infolist()
    if len(infos) > MAX_FILES * (1 if allow_types else 40):
        raise UploadRefused(_("refused: {label} holds {n} entries (at most {max})").format(
            label=label, n=len(infos), max=MAX_FILES))
    total = 0
    keep = []
    for info in infos:
        name = info.filename
        mode = info.external_attr >> 16
        if info.flag_bits & 0x1:
            raise UploadRefused(_("refused: {label} entry {name} is encrypted").format(label=label, name=repr(name)))
        if stat.S_ISLNK(mode):
            raise UploadRefused(_("refused: {label} entry {name} is a symbolic link").format(label=label,
                                                                                             name=repr(name)))
        p = PurePosixPath(name.replace("\\", "/"))
        if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in p.parts or "\x00" in name:
            raise UploadRefused(_("refused: {label} entry {name} has an absolute path or '..'").format(
                label=label, name=repr(name)))
        total += info.file_size
        if total > MAX_UNPACKED_MB * MB:
            raise UploadRefused(_("refused: {label} unpacks to more than {max} MB (a zip bomb?)").format(
                label=label, max=MAX_UNPACKED_MB))
        if info.file_size > MAX_RATIO * max(info.compress_size, 1) and info.file_size > MB:
            raise UploadRefused(_("refused: {label} entry {name} is compressed {ratio}:1 (more than {max}:1; a zip "
                                  "bomb?)").format(label=label, name=repr(name),
                                                   ratio=info.file_size // max(info.compress_size, 1), max=MAX_RATIO))
        if info.is_dir() or _IGNORED.search(name):
            continue
        if allow_types:
            if not p.name.lower().endswith(ALLOWED) and p.name.lower() not in EXTRA_FILES:
                raise UploadRefused(_("refused: {label} entry {name} is not a .csv or workbook (.xlsx, .ods, .xls) "
                                      "file").format(label=label, name=repr(name)))
            _check_name(p.name, _("{label} entry").format(label=label))
        keep.append(info)
    return keep


def _check_xlsx(data: bytes, label: str) -> None:
    """An XLSX is a zip: refuse a workbook bomb before the reader inflates it."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            _check_zip_entries(zf, label, allow_types=False)
    except zipfile.BadZipFile:
        raise UploadRefused(_("refused: {label} is not a valid .xlsx workbook").format(label=label)) from None


def _copy_limited(src, dst, limit: int, label: str) -> int:
    """Copy at most ``limit`` bytes (the declared size can lie); refuse beyond it."""
    n = 0
    while chunk := src.read(MB):
        n += len(chunk)
        if n > limit:
            raise UploadRefused(_("refused: {label} inflates beyond its declared size (a zip bomb?)").format(
                label=label))
        dst.write(chunk)
    return n


@dataclass(frozen=True)
class Upload:
    name: str
    data: bytes


def _upload_digest(files: Sequence[Upload]) -> str:
    h = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.name):
        h.update(f.name.encode() + b"\0" + hashlib.sha256(f.data).digest())
    return h.hexdigest()


@contextmanager
def stage_upload(files: Sequence[Upload]) -> Iterator[Path]:
    """A fresh temporary folder holding the upload, ready for ``read_registry``; deleted
    on exit. Raises :class:`UploadRefused` (nothing left on disk) for anything hostile.

    Accepted: one ``.zip`` (a CSV folder or a REDCap export: records + data dictionary),
    one ``.xlsx`` workbook, or several ``.csv`` files (a CSV folder's files, or a REDCap
    records CSV with its data dictionary).
    """
    if not files:
        raise UploadRefused(_("refused: nothing was uploaded"))
    if len(files) > MAX_FILES:
        raise UploadRefused(_("refused: {n} files (at most {max})").format(n=len(files), max=MAX_FILES))
    size = sum(len(f.data) for f in files)
    if size > MAX_UPLOAD_MB * MB:
        raise UploadRefused(_("refused: the upload is {size} MB, more than the {max} MB allowed").format(
            size=fmt_decimal(size / MB, 1), max=MAX_UPLOAD_MB))
    given = [_check_name(f.name) for f in files]
    if len({n.lower() for n in given}) != len(given):
        raise UploadRefused(_("refused: two uploaded files have the same name"))
    names = list(staged_names(given))
    kinds = {Path(n).suffix.lower() for n in names}
    if not kinds <= {".zip", ".csv", *WORKBOOKS}:
        raise UploadRefused(_("refused: upload a .zip (CSV folder or REDCap export), a workbook (.xlsx, .ods, .xls) "
                              "or .csv files"))
    if (".zip" in kinds or kinds & set(WORKBOOKS)) and len(files) > 1:
        raise UploadRefused(_("refused: upload one .zip or one workbook at a time (or several .csv files)"))
    tmp = Path(tempfile.mkdtemp(prefix="dashboard-upload-"))
    try:
        root = tmp / "upload"
        root.mkdir()
        f = files[0]
        if names[0].lower().endswith(".zip"):
            try:
                zf = zipfile.ZipFile(io.BytesIO(f.data))
            except zipfile.BadZipFile:
                raise UploadRefused(_("refused: {file} is not a valid zip file").format(file=f.name)) from None
            with zf:
                entries = _check_zip_entries(zf, f.name)
                if not entries:
                    raise UploadRefused(_("refused: {file} holds no .csv or .xlsx file").format(file=f.name))
                entries = [i for i in entries if not i.filename.endswith("/")]
                dirs = {PurePosixPath(i.filename).parent for i in entries}
                if len(dirs) > 1:
                    raise UploadRefused(_("refused: {file} has files in several folders; zip one export folder")
                                        .format(file=f.name))
                seen: set[str] = set()
                inner = staged_names([PurePosixPath(i.filename).name for i in entries])
                for info, name in zip(entries, inner):
                    if name.lower() in seen:
                        raise UploadRefused(_("refused: {file} holds {name} twice").format(
                            file=f.name, name=repr(PurePosixPath(info.filename).name)))
                    seen.add(name.lower())
                    target = root / name  # flat, under a safe name: the entry's folder is dropped, never joined
                    with zf.open(info) as src, open(target, "xb") as dst:
                        _copy_limited(src, dst, info.file_size, _("{file} entry {name}").format(
                            file=f.name, name=repr(info.filename)))
                    if name.lower().endswith((".xlsx", ".xlsm", ".ods")):
                        _check_xlsx(target.read_bytes(), name)
            xlsx = [p for p in root.iterdir() if p.suffix.lower() in WORKBOOKS]
            if xlsx and len([p for p in root.iterdir() if p.suffix.lower() != ".json"]) > 1:
                raise UploadRefused(_("refused: {file} mixes a workbook with other files").format(file=f.name))
            yield xlsx[0] if xlsx else root
        elif names[0].lower().endswith(WORKBOOKS):
            if not names[0].lower().endswith(".xls"):
                _check_xlsx(f.data, f.name)
            target = root / names[0]
            target.write_bytes(f.data)
            yield target
        else:
            for up, name in zip(files, names):
                (root / name).write_bytes(up.data)
            yield root
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- follow-up completeness

LANDMARKS = (12.0, 24.0, 36.0)


def _reverse_km(df: pl.DataFrame) -> pl.DataFrame:
    """Reverse Kaplan-Meier of :func:`select_followup`'s rows, per registry part."""
    if df.height == 0:
        return pl.DataFrame(schema={"group": pl.String, "time": pl.Float64, "survival": pl.Float64})
    d = df.select(pl.col("cohort").alias("group"), pl.col("followup_months").clip(lower_bound=0.0).alias("time"),
                  (pl.col("vital_status") != "DEAD").cast(pl.Int8).alias("censored"))
    return kaplan_meier(d, "time", "censored", group="group")


def select_reverse_km(store: Store, flt: CohortFilter) -> pl.DataFrame:
    """Reverse Kaplan-Meier of follow-up (months from first dose) per registry part: the
    "event" is being censored (alive at last contact); deaths are censored."""
    return _reverse_km(select_followup(store, flt))


def select_followup_summary(store: Store, flt: CohortFilter) -> pl.DataFrame:
    """Per registry part: patients, median follow-up by reverse KM (months), share still
    in follow-up at 12/24/36 months, patients alive without contact for over 6 months."""
    df = select_followup(store, flt)
    km = _reverse_km(df)
    rows = []
    for cohort in sorted(df["cohort"].unique().to_list()):
        part = df.filter(pl.col("cohort") == cohort)
        curve = km.filter(pl.col("group") == cohort).sort("time")
        below = curve.filter(pl.col("survival") <= 0.5)
        row = {"cohort": cohort, "patients": part.height,
               "median_followup_months": round(float(below["time"][0]), 1) if below.height else None}
        for t in LANDMARKS:
            upto = curve.filter(pl.col("time") <= t)
            row[f"followed_{int(t)}m_pct"] = round(100.0 * float(upto["survival"][-1] if upto.height else 1.0), 1) \
                if curve.height and curve["time"].max() >= t else None
        stale = part.filter((pl.col("vital_status") != "DEAD") & (pl.col("months_since_contact") > NO_CONTACT_MONTHS))
        row["alive_no_contact_6m"] = stale.height
        row["pct_no_contact_6m"] = round(100.0 * stale.height / part.height, 1) if part.height else None
        rows.append(row)
    schema = {"cohort": pl.String, "patients": pl.Int64, "median_followup_months": pl.Float64,
              **{f"followed_{int(t)}m_pct": pl.Float64 for t in LANDMARKS},
              "alive_no_contact_6m": pl.Int64, "pct_no_contact_6m": pl.Float64}
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)


# ---------------------------------------------------------------- page sections


def _meta_table(meta: dict) -> pl.DataFrame:
    counts = json.loads(meta.get("table_counts") or "{}")
    return pl.DataFrame({"table": list(counts), "rows": [int(v) for v in counts.values()]},
                        schema={"table": pl.String, "rows": pl.Int64})


def _backups(ctx: PageContext) -> pl.DataFrame:
    path = Path(ctx.store.path)
    bdir = path.parent / BACKUP_DIR
    files = sorted(bdir.glob(f"{path.stem}-*{path.suffix}"), reverse=True) if bdir.exists() else []
    return pl.DataFrame({"backup": [p.name for p in files], "size_mb": [round(p.stat().st_size / MB, 1) for p in files]},
                        schema={"backup": pl.String, "size_mb": pl.Float64})


TABLE_COUNT_HEADERS = {"table": N_("table"), "rows": N_("rows")}
BACKUP_HEADERS = {"backup": N_("Backup"), "size_mb": N_("Size (MB)")}
COMPLETENESS_HEADERS = {"table": N_("Table"), "column": N_("Field"), "required": N_("Required")}
FOLLOWUP_HEADERS = {
    "cohort": N_("Registry part"), "patients": N_("Patients"), "median_followup_months": N_("Median follow-up (months)"),
    "followed_12m_pct": N_("In follow-up at 12 months (%)"), "followed_24m_pct": N_("In follow-up at 24 months (%)"),
    "followed_36m_pct": N_("In follow-up at 36 months (%)"),
    "alive_no_contact_6m": N_("Alive, no contact for over 6 months"),
    "pct_no_contact_6m": N_("Alive, no contact for over 6 months (%)"),
}
LOST_CONTACT_HEADERS = {"subject_id": N_("Patient"), "cohort": N_("Registry part"), "centre": N_("Centre"),
                        "last_contact_date": N_("Last contact"), "months_since_contact": N_("Months since contact")}
FINDING_HEADERS = {"file": N_("file"), "rule": N_("rule"), "severity": N_("severity"), "n": N_("Count"),
                   "example": N_("Example")}
AUDIT_HEADERS = {"id": N_("No."), "at": N_("Time (UTC)"), "actor": N_("Account"), "role": N_("Role"),
                 "action": N_("Action"), "result": N_("Result")}
# Audit actions and results as the trail records them (codes) -> what the screen says.
AUDIT_ACTIONS = {"validate": N_("validate"), "import": N_("import"), "export": N_("export"),
                 "sign_in": N_("sign-in"), "sign_in_refused": N_("sign-in refused"),
                 "access_denied": N_("access denied"), "report": N_("report")}
AUDIT_RESULTS = {"ok": N_("ok"), "refused": N_("refused"), "rejected": N_("rejected"), "failed": N_("failed")}
SEVERITIES = {"error": N_("error"), "warning": N_("warning"), "info": N_("info")}


def _code_labels(column: str, labels: Mapping[str, str]) -> pl.Expr:
    """A column of codes shown as their labels in the current language (unknown codes stay)."""
    return pl.col(column).replace({k: _(v) for k, v in labels.items()})


def _cohort_labels(frame: pl.DataFrame, column: str = "cohort") -> pl.DataFrame:
    if column not in frame.columns:
        return frame
    return frame.with_columns(pl.col(column).replace(dict(COHORT.labels)))


def dataset_section(ctx: PageContext) -> None:
    from .export import show_table

    meta = ctx.store.meta()
    st.subheader(_("Current dataset"))
    source = meta.get("source", "?")
    when = meta.get("imported_at") or meta.get("built_at", "?")
    c = st.columns(3)
    c[0].metric(_("Source"), _("Synthetic (demo)") if source == "synthetic" else _("Imported"))
    c[1].metric(_("Loaded"), when[:19].replace("T", " "))
    fmt = meta.get("import_format")
    c[2].metric(_("Format"), fmt if fmt else _("generated"))
    st.markdown(_("Content hash: {hash}").format(hash=f"`{meta.get('content_hash', '?')}`"))
    if meta.get("input_sha256"):
        st.caption(_("Input file hashes (SHA-256): {hashes}").format(hashes=f"`{meta['input_sha256']}`"))
    show_table(labelled(_meta_table(meta), TABLE_COUNT_HEADERS), "dataset_table_counts", ctx,
               title=_("Rows per table"))
    backups = _backups(ctx)
    if backups.height:
        st.caption(_("Previous versions kept as backups in {folder} (newest first): {files}").format(
            folder=f"`{BACKUP_DIR}/`", files=", ".join(f"`{b}`" for b in backups["backup"].to_list()[:5])))
    else:
        st.caption(_("No previous version yet: the first import will keep this one as a backup."))


def quality_section(ctx: PageContext) -> None:
    from .export import show_table

    st.subheader(_("Data quality"))
    tab_c, tab_f, tab_v = st.tabs([_("Completeness"), _("Follow-up"), _("Inconsistencies")])
    with tab_c:
        comp = cached_query(select_completeness, ctx.store, ctx.filter)
        st.caption(_("Share of rows with a value, per field, table and registry part (patients selected in the "
                     "sidebar)."))
        wide = comp.pivot(on="cohort", index=["table", "column", "required"], values="pct") if comp.height else comp
        wide = wide.rename({c: COHORT.label(c) for c in wide.columns if c in COHORT.codes})
        show_table(labelled(wide, COMPLETENESS_HEADERS), "completeness", ctx, title=_("Completeness per field (% filled)"))
    with tab_f:
        summary = cached_query(select_followup_summary, ctx.store, ctx.filter)
        st.caption(_("Median follow-up and share still in follow-up at 12/24/36 months by reverse Kaplan-Meier (time "
                     "from first dose; being censored alive is the event); alive patients without contact for over 6 "
                     "months before the data cut-off."))
        show_table(labelled(_cohort_labels(summary), FOLLOWUP_HEADERS), "followup_completeness", ctx,
                   title=_("Follow-up completeness"))
        if any(summary[c].null_count() for c in summary.columns if c.startswith("followed_")):
            st.caption(_("None / –: not estimable, no patient of that registry part has been followed that long yet."))
        if ctx.can("view_patient_level"):
            lost = cached_query(select_lost_contact, ctx.store, ctx.filter)
            if ctx.hide_identifiers:  # before the columns get their display names (the mask looks for subject_id)
                lost = mask_identifiers(lost)
            with st.expander(_("Alive without contact for over 6 months ({n})").format(n=fmt_int(lost.height))):
                _lost_contact_listing(lost, ctx)
    with tab_v:
        st.caption(_("The import validator re-run on the served data (whole registry): what it flags but accepts."))
        # costly (a full export and validation: ~10 s per 100k patients), so only on request,
        # then cached once per store version whatever the sidebar filter (it ignores it)
        if not st.session_state.get("dq_run_validator"):
            if st.button(_("Run the validator on the served data"), key="dq_validator_button"):
                st.session_state["dq_run_validator"] = True
            else:
                return
        with st.spinner(_("Validating the whole registry...")):
            findings = cached_query(select_validator_findings, ctx.store, CohortFilter())
        if findings.height:
            shown = findings.with_columns(_code_labels("severity", SEVERITIES)) if "severity" in findings.columns \
                else findings
            show_table(labelled(shown, FINDING_HEADERS), "validator_findings", ctx, title=_("Validator findings"))
        else:
            st.success(_("The validator finds no inconsistency in the served data."))


def _lost_contact_listing(lost: pl.DataFrame, ctx: PageContext) -> None:
    """The no-contact listing: its first :data:`LISTING_ROWS` rows on screen (the whole
    listing went to the browser on every run before: 954 kB per filter change at 1M
    patients, issue 18), the whole listing in its export."""
    from .export import show_table, table_download

    title = _("Alive without contact for over 6 months")
    table = labelled(_cohort_labels(lost), LOST_CONTACT_HEADERS)
    show_table(table.head(LISTING_ROWS), "no_contact_6m", ctx, title=title, export=False)
    if lost.height > LISTING_ROWS:
        st.caption(_("Showing the first {k} of {n} rows, longest without contact first; the export holds them all.")
                   .format(k=fmt_int(LISTING_ROWS), n=fmt_int(lost.height)))
    table_download(table, "no_contact_6m", ctx, title=title)


def _refuse(ctx: PageContext, message: str, names: list[str]) -> None:
    audit.record("validate", ctx.actor, {"files": names, "refused": message}, result="refused", role=ctx.role,
                 path=audit.default_audit_path(ctx.store.path))
    st.session_state.pop(STAGED, None)
    st.error(md_text(message, 600), icon=":material/block:")  # the message is already in the run's language


DATE_ORDER_LABELS = {"": N_("Detect (refuse if ambiguous)"), "DMY": N_("Day/month/year (15/03/2021)"),
                     "MDY": N_("Month/day/year (3/15/2021)"), "YMD": N_("Year/month/day (2021/3/15)")}


def _report_frames(report, names: dict[str, str]) -> dict:
    """What the session keeps of a validation: the grouped report, the row accounting and
    at most MAX_SHOWN_PROBLEMS per-cell problems; the full list as compressed Parquet for
    the download (a 5 MB export with many bad values stays a few MB, not GBs)."""
    full = shown_as_uploaded(report.to_frame(), names)
    buf = io.BytesIO()
    full.write_parquet(buf, compression="zstd")
    acc = report.accounting if report.accounting is not None else pl.DataFrame()
    if acc.height:
        acc = shown_as_uploaded(acc, names)
    grouped = shown_as_uploaded(report.grouped(), names)
    return {"problems": full.head(MAX_SHOWN_PROBLEMS), "n_problems": full.height, "grouped": grouped, "accounting": acc,
            "full_parquet": buf.getvalue(), "errors": report.errors.height,
            "warnings": full.filter(pl.col("severity") == "warning").height,
            "notes": full.filter(pl.col("severity") == "info").height,
            "encodings": {names.get(k, k): v for k, v in report.encodings.items()},
            "date_orders": {names.get(k, k): v for k, v in report.date_orders.items()}}


def _md(text: str) -> str:
    """Text from a file, safe inside markdown: no HTML, links or images from it."""
    return re.sub(r"([<>\[\]`|])", r"\\\1", text)


PROBLEM_HEADERS = {"severity": N_("severity"), "rule": N_("rule"), "count": N_("count"), "message": N_("message"),
                   "hint": N_("likely cause / fix"), "file": N_("file"), "column": N_("column"), "rows": N_("rows"),
                   "row": N_("row"), "value": N_("value"), "follows": N_("follows from another problem"),
                   "problems": N_("problems"), "example": N_("example value")}
ACCOUNTING_HEADERS = {"file": N_("file"), "table": N_("table"), "read": N_("rows read"),
                      "reported": N_("reported (dropped, with a reason)"), "unaccounted": N_("unaccounted")}


def _show_report(ctx: PageContext, staged: dict) -> None:
    from .export import table_download

    grouped: pl.DataFrame = staged["grouped"]
    acc: pl.DataFrame = staged["accounting"]

    def bullets(groups: pl.DataFrame, limit: int = 10) -> str:
        lines = []
        for r in groups.head(limit).iter_rows(named=True):
            rows = _("header") if r["rows"] == "1" else _("rows {rows}").format(rows=r["rows"]) if r["rows"] else ""
            where = r["file"] + (_(", column {column}").format(column=r["column"]) if r["column"] else "") \
                + (f", {rows}" if rows else "")
            follows = " *" + _("(follows from another problem)") + "*" if r["follows"] else ""
            fix = " **" + _("Fix:") + f"** {r['hint']}" if r["hint"] and r["severity"] == "error" else ""
            lines.append(_md(_("- **{rule}** ({count}) in {where}{follows}: {message}.").format(
                rule=r["rule"], count=fmt_int(r["count"]), where=where, follows=follows, message=r["message"])) + fix)
        more = "\n\n" + _("... and {n} more in the table below.").format(n=fmt_int(groups.height - limit)) \
            if groups.height > limit else ""
        return "\n".join(lines) + more

    errors = grouped.filter(pl.col("severity") == "error") if grouped.height else grouped
    warnings = grouped.filter(pl.col("severity") != "error") if grouped.height else grouped
    if errors.height:
        st.markdown(bullets(errors))
    if warnings.height:
        with st.expander(_("Decisions taken and warnings ({n})").format(n=fmt_int(warnings.height)),
                         expanded=warnings.height <= 6):
            st.markdown(bullets(warnings, 20))
    if acc.height:
        loaded = N_("loaded") if staged["ok"] else N_("would load")
        st.markdown(_("**Rows per file** (every row read is loaded or reported)"))
        st.dataframe(labelled(acc, {**ACCOUNTING_HEADERS, "loaded": loaded}), hide_index=True, width="stretch")
    notes = []
    for f, e in staged["encodings"].items():
        if e not in ("utf-8", "utf-8-sig"):
            notes.append(_("{file}: read as {encoding}").format(file=f, encoding=e))
    for f, o in staged["date_orders"].items():
        notes.append(_("{file}: dates read as {order}").format(file=f, order=o))
    if notes:
        st.caption(_("Decisions taken: {notes}").format(notes=md_text("; ".join(notes), 2000)))
    if grouped.height:
        st.markdown(_("**Problems and decisions** (one line per file, column and rule; errors first)"))
        shown = grouped.select(pl.col("severity").replace({k: _(v) for k, v in SEVERITIES.items()}), "rule", "count",
                               "message", pl.col("hint").fill_null(""), "file", pl.col("column").fill_null(""),
                               pl.col("rows").fill_null(""),
                               pl.col("value").fill_null(""), "follows")
        st.dataframe(labelled(shown, PROBLEM_HEADERS), hide_index=True, width="stretch",
                     column_config={labelled(shown.head(0), PROBLEM_HEADERS).columns[3]:
                                    st.column_config.TextColumn(width="large"),
                                    labelled(shown.head(0), PROBLEM_HEADERS).columns[4]:
                                    st.column_config.TextColumn(width="medium")})
        n = staged["n_problems"]
        with st.expander(_("Every problem, one row per cell ({n})").format(n=fmt_int(n))):
            if n > MAX_SHOWN_PROBLEMS:
                st.caption(_("The first {shown} of {n}; download the full list.").format(
                    shown=fmt_int(MAX_SHOWN_PROBLEMS), n=fmt_int(n)))
            cells = staged["problems"].select("file", "row", "column", "value", "rule", "message", "severity")
            st.dataframe(labelled(cells.with_columns(pl.col("severity").replace(
                {k: _(v) for k, v in SEVERITIES.items()})), PROBLEM_HEADERS), hide_index=True, width="stretch")
            table_download(pl.read_parquet(io.BytesIO(staged["full_parquet"])), "import_problems", ctx,
                           title=_("Import problems (every cell)"), label=_("Download the full list"))


def import_section(ctx: PageContext) -> None:
    from ..ingest import DEFAULT_MISSING, ImportRejected, Options, import_registry, validate_path

    st.subheader(_("Import a registry export"))
    st.caption(_("A CSV folder as a .zip, a workbook (.xlsx, .ods, .xls), or a REDCap export (records + data "
                 "dictionary, as .csv files or a .zip); at most {max} MB. Everything is validated first; nothing is "
                 "loaded until you confirm; the current dataset is kept as a backup.").format(max=MAX_UPLOAD_MB))
    c = st.columns([1, 2])
    order = c[0].selectbox(_("Date order of dates written as text"), list(DATE_ORDER_LABELS),
                           format_func=lambda code: _(DATE_ORDER_LABELS[code]), key="data_date_order",
                           help=_("Applies to every file of the upload. Detect: used when the dates tell (a day above "
                                  "12); an ambiguous file is refused, never guessed."))
    missing_text = c[1].text_input(_("Values read as missing (separated by |)"), " | ".join(DEFAULT_MISSING),
                                   key="data_missing")
    options = Options(date_order=order or None, missing=tuple(m.strip() for m in missing_text.split("|") if m.strip()))
    # Streamlit itself refuses a name without one of these extensions or with a NUL byte
    # (before the page runs); everything else is checked by stage_upload.
    ups = st.file_uploader(_("Registry export"), type=["zip", "xlsx", "xlsm", "ods", "xls", "csv"],
                           accept_multiple_files=True, key="data_upload")
    if not ups:
        st.session_state.pop(STAGED, None)
        return
    names = [u.name for u in ups]
    too_big = [u for u in ups if u.size > MAX_UPLOAD_MB * MB]
    if too_big:
        _refuse(ctx, _("refused: {file} is larger than {max} MB").format(file=too_big[0].name, max=MAX_UPLOAD_MB),
                names)
        return
    files = [Upload(u.name, u.getvalue()) for u in ups]
    # The language is part of the key: the report's messages are worded when it is made,
    # so a language switch validates again and shows them in the new language.
    digest = _upload_digest(files) + f"|{options.date_order}|{'|'.join(options.missing)}|{get_language()}"
    staged = st.session_state.get(STAGED)
    if not staged or staged["digest"] != digest:
        try:
            shown = {stored: given for stored, given in staged_names([_check_name(n) for n in names]).items()}
            with stage_upload(files) as path:
                report = validate_path(path, options=options)
        except UploadRefused as exc:
            _refuse(ctx, str(exc), names)
            return
        except Exception as exc:  # a crash while reading is refused and recorded, not a traceback
            _refuse(ctx, _("refused: the upload could not be read ({error})").format(error=type(exc).__name__), names)
            return
        audit.record("validate", ctx.actor, {"files": names, "upload_sha256": digest.split("|")[0], "problems": report.frame.height,
                                             "format": report.source_format, "date_order": options.date_order,
                                             "errors": report.errors.height},
                     result="ok" if report.ok else "rejected", role=ctx.role,
                     path=audit.default_audit_path(ctx.store.path))
        staged = {"digest": digest, "ok": report.ok, "names": names, **_report_frames(report, shown)}
        st.session_state[STAGED] = staged
    if not staged["ok"]:
        st.error(ngettext("The upload has {n} error; nothing can be loaded until it is fixed.",
                          "The upload has {n} errors; nothing can be loaded until they are fixed.",
                          staged["errors"]).format(n=fmt_int(staged["errors"])), icon=":material/error:")
    _show_report(ctx, staged)
    if not staged["ok"]:
        return
    n_warn, n_notes = staged["warnings"], staged["notes"]
    valid = _("Valid: {files}").format(files=md_text(", ".join(names), 400))
    if n_warn:
        valid = _("{sentence} {next}").format(sentence=valid, next=ngettext(
            "({n} warning: read it above)", "({n} warnings: read them above)", n_warn).format(n=fmt_int(n_warn)))
    if n_notes:  # decisions that need no action (title rows skipped) are not warnings
        valid = _("{sentence} {next}").format(sentence=valid, next=ngettext(
            "({n} note on decisions taken)", "({n} notes on decisions taken)", n_notes).format(n=fmt_int(n_notes)))
    st.success(valid, icon=":material/check_circle:")
    confirm = st.checkbox(_("Replace the current dataset with this upload (the current one is kept as a backup)"),
                          key="data_confirm")
    if st.button(_("Load"), type="primary", disabled=not confirm, key="data_load", icon=":material/upload:"):
        try:
            with stage_upload(files) as path:
                meta = import_registry(path, ctx.store.path, actor=ctx.actor, options=options, role=ctx.role)
        except UploadRefused as exc:
            _refuse(ctx, str(exc), names)
            return
        except ImportRejected as exc:
            n = exc.report.errors.height
            st.error(ngettext("Rejected on load: {n} error.", "Rejected on load: {n} errors.", n).format(n=fmt_int(n)))
            return
        st.session_state.pop(STAGED, None)
        warm_in_background(get_store(str(ctx.store.path)).pinned(), get_language())  # the new build, before anyone asks
        st.success(_("Loaded. Content hash {hash}; rows per table: {counts}.").format(
            hash=f"`{meta.get('content_hash')}`", counts=_table_counts_text(meta.get("table_counts"))))


def _table_counts_text(counts: object) -> str:
    """``{"subject": 400, ...}`` (as stored in the metadata) as ``subject 400, ...``."""
    try:
        data = json.loads(counts) if isinstance(counts, str) else dict(counts or {})
    except (TypeError, ValueError):
        return md_text(counts)
    return ", ".join(f"`{k}` {fmt_int(v)}" for k, v in data.items())


def audit_section(ctx: PageContext) -> None:
    st.subheader(_("Audit trail"))
    path = audit.default_audit_path(ctx.store.path)
    log = audit.read(limit=500, path=path)
    found = audit.verify(path)
    if found.ok:
        st.caption(_("Append-only; keyed chain and anchored head intact. Newest first, last {n} events. ({file}; "
                     "{command} checks it from the command line.)").format(
            n=fmt_int(log.height), file=f"`{path.name}`", command="`python -m dashboard audit verify`"))
    else:
        st.error(_("The audit trail fails verification: it was changed outside the app, or its key is missing.")
                 + "\n\n" + "\n".join(f"- {md_text(line, 500)}" for line in found.report().splitlines()[1:]),
                 icon=":material/gpp_bad:")
    # the detail is the record itself (JSON, as written): shown for the selected event, not translated
    shown = log.drop("detail").with_columns(_code_labels("action", AUDIT_ACTIONS), _code_labels("result", AUDIT_RESULTS),
                                            _code_labels("role", ROLE_LABELS))
    event = st.dataframe(labelled(shown, AUDIT_HEADERS), hide_index=True, width="stretch", key="audit_table",
                         on_select="rerun", selection_mode="single-row")
    rows = list(getattr(getattr(event, "selection", None), "rows", None) or [])
    if rows and 0 <= rows[0] < log.height:
        st.caption(_("Detail of event {id}, as recorded:").format(id=log["id"][rows[0]]))
        try:
            st.json(json.loads(log["detail"][rows[0]] or "{}"), expanded=True)
        except ValueError:
            st.code(log["detail"][rows[0]], language=None)
    elif log.height:
        st.caption(_("Select an event to see its detail as recorded."))


def data_page(ctx: PageContext) -> None:
    from .mapping import mapping_provenance, mapping_wizard

    dataset_section(ctx)
    mapping_provenance(ctx)
    quality_section(ctx)
    if ctx.can("import_data"):
        import_section(ctx)
        mapping_wizard(ctx)
    if ctx.can("view_audit"):
        audit_section(ctx)
