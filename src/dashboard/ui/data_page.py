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
from typing import Iterator, Sequence

import polars as pl
import streamlit as st

from .. import audit
from ..filters import CohortFilter
from ..queries.quality import (
    NO_CONTACT_MONTHS,
    select_completeness,
    select_followup,
    select_lost_contact,
    select_validator_findings,
)
from ..stats.km import kaplan_meier
from ..store import BACKUP_DIR, Store
from .data import cached_query
from .page import PageContext
from .text import md_text

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
    """An upload refused before anything is stored; the message says why."""


def _check_name(name: str, what: str = "file name") -> str:
    """A plain file name: no directory part, no drive, no control characters, no dot-dot.
    Any other character (Chinese, spaces, ``&``, commas, brackets) is fine: the file is
    stored under :func:`safe_name`, and shown as the user gave it."""
    if not name or "/" in name or "\\" in name or ".." in name or ":" in name or len(name) > 255 \
            or any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise UploadRefused(f"refused: the {what} {name!r} is not a plain file name (it carries a path or "
                            "control characters)")
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
        raise UploadRefused(f"refused: {label} holds {len(infos)} entries (at most {MAX_FILES})")
    total = 0
    keep = []
    for info in infos:
        name = info.filename
        mode = info.external_attr >> 16
        if info.flag_bits & 0x1:
            raise UploadRefused(f"refused: {label} entry {name!r} is encrypted")
        if stat.S_ISLNK(mode):
            raise UploadRefused(f"refused: {label} entry {name!r} is a symbolic link")
        p = PurePosixPath(name.replace("\\", "/"))
        if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in p.parts or "\x00" in name:
            raise UploadRefused(f"refused: {label} entry {name!r} has an absolute path or '..'")
        total += info.file_size
        if total > MAX_UNPACKED_MB * MB:
            raise UploadRefused(f"refused: {label} unpacks to more than {MAX_UNPACKED_MB} MB (a zip bomb?)")
        if info.file_size > MAX_RATIO * max(info.compress_size, 1) and info.file_size > MB:
            raise UploadRefused(f"refused: {label} entry {name!r} is compressed {info.file_size // max(info.compress_size, 1)}:1 "
                                f"(more than {MAX_RATIO}:1; a zip bomb?)")
        if info.is_dir() or _IGNORED.search(name):
            continue
        if allow_types:
            if not p.name.lower().endswith(ALLOWED) and p.name.lower() not in EXTRA_FILES:
                raise UploadRefused(f"refused: {label} entry {name!r} is not a .csv or workbook (.xlsx, .ods, .xls) file")
            _check_name(p.name, f"{label} entry")
        keep.append(info)
    return keep


def _check_xlsx(data: bytes, label: str) -> None:
    """An XLSX is a zip: refuse a workbook bomb before the reader inflates it."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            _check_zip_entries(zf, label, allow_types=False)
    except zipfile.BadZipFile:
        raise UploadRefused(f"refused: {label} is not a valid .xlsx workbook") from None


def _copy_limited(src, dst, limit: int, label: str) -> int:
    """Copy at most ``limit`` bytes (the declared size can lie); refuse beyond it."""
    n = 0
    while chunk := src.read(MB):
        n += len(chunk)
        if n > limit:
            raise UploadRefused(f"refused: {label} inflates beyond its declared size (a zip bomb?)")
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
        raise UploadRefused("refused: nothing was uploaded")
    if len(files) > MAX_FILES:
        raise UploadRefused(f"refused: {len(files)} files (at most {MAX_FILES})")
    size = sum(len(f.data) for f in files)
    if size > MAX_UPLOAD_MB * MB:
        raise UploadRefused(f"refused: the upload is {size / MB:.1f} MB, more than the {MAX_UPLOAD_MB} MB allowed")
    given = [_check_name(f.name) for f in files]
    if len({n.lower() for n in given}) != len(given):
        raise UploadRefused("refused: two uploaded files have the same name")
    names = list(staged_names(given))
    kinds = {Path(n).suffix.lower() for n in names}
    if not kinds <= {".zip", ".csv", *WORKBOOKS}:
        raise UploadRefused("refused: upload a .zip (CSV folder or REDCap export), a workbook (.xlsx, .ods, .xls) or .csv files")
    if (".zip" in kinds or kinds & set(WORKBOOKS)) and len(files) > 1:
        raise UploadRefused("refused: upload one .zip or one workbook at a time (or several .csv files)")
    tmp = Path(tempfile.mkdtemp(prefix="dashboard-upload-"))
    try:
        root = tmp / "upload"
        root.mkdir()
        f = files[0]
        if names[0].lower().endswith(".zip"):
            try:
                zf = zipfile.ZipFile(io.BytesIO(f.data))
            except zipfile.BadZipFile:
                raise UploadRefused(f"refused: {f.name} is not a valid zip file") from None
            with zf:
                entries = _check_zip_entries(zf, f.name)
                if not entries:
                    raise UploadRefused(f"refused: {f.name} holds no .csv or .xlsx file")
                entries = [i for i in entries if not i.filename.endswith("/")]
                dirs = {PurePosixPath(i.filename).parent for i in entries}
                if len(dirs) > 1:
                    raise UploadRefused(f"refused: {f.name} has files in several folders; zip one export folder")
                seen: set[str] = set()
                inner = staged_names([PurePosixPath(i.filename).name for i in entries])
                for info, name in zip(entries, inner):
                    if name.lower() in seen:
                        raise UploadRefused(f"refused: {f.name} holds {PurePosixPath(info.filename).name!r} twice")
                    seen.add(name.lower())
                    target = root / name  # flat, under a safe name: the entry's folder is dropped, never joined
                    with zf.open(info) as src, open(target, "xb") as dst:
                        _copy_limited(src, dst, info.file_size, f"{f.name} entry {info.filename!r}")
                    if name.lower().endswith((".xlsx", ".xlsm", ".ods")):
                        _check_xlsx(target.read_bytes(), name)
            xlsx = [p for p in root.iterdir() if p.suffix.lower() in WORKBOOKS]
            if xlsx and len([p for p in root.iterdir() if p.suffix.lower() != ".json"]) > 1:
                raise UploadRefused(f"refused: {f.name} mixes a workbook with other files")
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


def dataset_section(ctx: PageContext) -> None:
    from .export import show_table

    meta = ctx.store.meta()
    st.subheader("Current dataset")
    source = meta.get("source", "?")
    when = meta.get("imported_at") or meta.get("built_at", "?")
    c = st.columns(3)
    c[0].metric("Source", "Synthetic (demo)" if source == "synthetic" else "Imported")
    c[1].metric("Loaded", when[:19].replace("T", " "))
    c[2].metric("Format", meta.get("import_format", "generated"))
    st.markdown(f"Content hash: `{meta.get('content_hash', '?')}`")
    if meta.get("input_sha256"):
        st.caption(f"Input file hashes (SHA-256): {meta['input_sha256']}")
    show_table(_meta_table(meta), "dataset_table_counts", ctx, title="Rows per table")
    backups = _backups(ctx)
    if backups.height:
        st.caption(f"Previous versions kept as backups in {BACKUP_DIR}/ (newest first): " +
                   ", ".join(backups["backup"].to_list()[:5]))
    else:
        st.caption("No previous version yet: the first import will keep this one as a backup.")


def quality_section(ctx: PageContext) -> None:
    from .export import show_table

    st.subheader("Data quality")
    tab_c, tab_f, tab_v = st.tabs(["Completeness", "Follow-up", "Inconsistencies"])
    with tab_c:
        comp = cached_query(select_completeness, ctx.store, ctx.filter)
        st.caption("Share of rows with a value, per field, table and registry part (patients selected in the sidebar).")
        wide = comp.pivot(on="cohort", index=["table", "column", "required"], values="pct") if comp.height else comp
        show_table(wide, "completeness", ctx, title="Completeness per field (% filled)")
    with tab_f:
        summary = cached_query(select_followup_summary, ctx.store, ctx.filter)
        st.caption("Median follow-up and share still in follow-up at 12/24/36 months by reverse Kaplan-Meier (time "
                   "from first dose; being censored alive is the event); alive patients without contact for over 6 "
                   "months before the data cut-off.")
        show_table(summary, "followup_completeness", ctx, title="Follow-up completeness")
        if ctx.can("view_patient_level"):
            lost = cached_query(select_lost_contact, ctx.store, ctx.filter)
            with st.expander(f"Alive without contact for over 6 months ({lost.height})"):
                show_table(lost, "no_contact_6m", ctx, title="Alive without contact for over 6 months")
    with tab_v:
        st.caption("The import validator re-run on the served data (whole registry): what it flags but accepts.")
        # costly (a full export and validation: ~10 s per 100k patients), so only on request,
        # then cached once per store version whatever the sidebar filter (it ignores it)
        if not st.session_state.get("dq_run_validator"):
            if st.button("Run the validator on the served data", key="dq_validator_button"):
                st.session_state["dq_run_validator"] = True
            else:
                return
        with st.spinner("Validating the whole registry..."):
            findings = cached_query(select_validator_findings, ctx.store, CohortFilter())
        if findings.height:
            show_table(findings, "validator_findings", ctx, title="Validator findings")
        else:
            st.success("The validator finds no inconsistency in the served data.")


def _refuse(ctx: PageContext, message: str, names: list[str]) -> None:
    audit.record("validate", ctx.actor, {"files": names, "refused": message}, result="refused", role=ctx.role,
                 path=audit.default_audit_path(ctx.store.path))
    st.session_state.pop(STAGED, None)
    st.error(md_text(message, 600), icon=":material/block:")


DATE_ORDER_LABELS = {"": "Detect (refuse if ambiguous)", "DMY": "Day/month/year (15/03/2021)",
                     "MDY": "Month/day/year (3/15/2021)", "YMD": "Year/month/day (2021/3/15)"}


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
            "encodings": {names.get(k, k): v for k, v in report.encodings.items()},
            "date_orders": {names.get(k, k): v for k, v in report.date_orders.items()}}


def _md(text: str) -> str:
    """Text from a file, safe inside markdown: no HTML, links or images from it."""
    return re.sub(r"([<>\[\]`|])", r"\\\1", text)


def _show_report(ctx: PageContext, staged: dict) -> None:
    from .export import table_download

    grouped: pl.DataFrame = staged["grouped"]
    acc: pl.DataFrame = staged["accounting"]
    def bullets(groups: pl.DataFrame, limit: int = 10) -> str:
        lines = []
        for r in groups.head(limit).iter_rows(named=True):
            rows = "header" if r["rows"] == "1" else f"rows {r['rows']}" if r["rows"] else ""
            where = r["file"] + (f", column {r['column']}" if r["column"] else "") + (f", {rows}" if rows else "")
            follows = " *(follows from another problem)*" if r["follows"] else ""
            fix = f" **Fix:** {r['hint']}" if r["hint"] and r["severity"] == "error" else ""
            lines.append(_md(f"- **{r['rule']}** ({r['count']:,}) in {where}{follows}: {r['message']}.") + fix)
        more = f"\n\n... and {groups.height - limit} more in the table below." if groups.height > limit else ""
        return "\n".join(lines) + more

    errors = grouped.filter(pl.col("severity") == "error") if grouped.height else grouped
    warnings = grouped.filter(pl.col("severity") != "error") if grouped.height else grouped
    if errors.height:
        st.markdown(bullets(errors))
    if warnings.height:
        with st.expander(f"Decisions taken and warnings ({warnings.height})", expanded=warnings.height <= 6):
            st.markdown(bullets(warnings, 20))
    if acc.height:
        loaded = "loaded" if staged["ok"] else "would load"
        st.markdown("**Rows per file** (every row read is loaded or reported)")
        st.dataframe(acc.rename({"read": "rows read", "loaded": loaded, "reported": "reported (dropped, with a reason)",
                                 "unaccounted": "unaccounted"}), hide_index=True, width="stretch")
    notes = []
    for f, e in staged["encodings"].items():
        if e not in ("utf-8", "utf-8-sig"):
            notes.append(f"{f}: read as {e}")
    for f, o in staged["date_orders"].items():
        notes.append(f"{f}: dates read as {o}")
    if notes:
        st.caption("Decisions taken: " + "; ".join(notes))
    if grouped.height:
        st.markdown("**Problems and decisions** (one line per file, column and rule; errors first)")
        st.dataframe(grouped.select("severity", "rule", "count", "message", "hint", "file", pl.col("column").fill_null(""),
                                    pl.col("rows").fill_null(""), pl.col("value").fill_null(""), "follows")
                     .rename({"hint": "likely cause / fix", "follows": "follows from another problem"}),
                     hide_index=True, width="stretch",
                     column_config={"message": st.column_config.TextColumn(width="large"),
                                    "likely cause / fix": st.column_config.TextColumn(width="medium")})
        n = staged["n_problems"]
        with st.expander(f"Every problem, one row per cell ({n:,})"):
            if n > MAX_SHOWN_PROBLEMS:
                st.caption(f"The first {MAX_SHOWN_PROBLEMS:,} of {n:,}; download the full list.")
            st.dataframe(staged["problems"].select("file", "row", "column", "value", "rule", "message", "severity"),
                         hide_index=True, width="stretch")
            table_download(pl.read_parquet(io.BytesIO(staged["full_parquet"])), "import_problems", ctx,
                           title="Import problems (every cell)", label="Download the full list")


def import_section(ctx: PageContext) -> None:
    from ..ingest import DEFAULT_MISSING, ImportRejected, Options, import_registry, validate_path

    st.subheader("Import a registry export")
    st.caption(f"A CSV folder as a .zip, a workbook (.xlsx, .ods, .xls), or a REDCap export (records + data dictionary, "
               f"as .csv files or a .zip); at most {MAX_UPLOAD_MB} MB. Everything is validated first; nothing is loaded "
               "until you confirm; the current dataset is kept as a backup.")
    c = st.columns([1, 2])
    order = c[0].selectbox("Date order of dates written as text", list(DATE_ORDER_LABELS), format_func=DATE_ORDER_LABELS.get,
                           key="data_date_order", help="Applies to every file of the upload. Detect: used when the dates "
                           "tell (a day above 12); an ambiguous file is refused, never guessed.")
    missing_text = c[1].text_input("Values read as missing (separated by |)", " | ".join(DEFAULT_MISSING), key="data_missing")
    options = Options(date_order=order or None, missing=tuple(m.strip() for m in missing_text.split("|") if m.strip()))
    # Streamlit itself refuses a name without one of these extensions or with a NUL byte
    # (before the page runs); everything else is checked by stage_upload.
    ups = st.file_uploader("Registry export", type=["zip", "xlsx", "xlsm", "ods", "xls", "csv"], accept_multiple_files=True,
                           key="data_upload")
    if not ups:
        st.session_state.pop(STAGED, None)
        return
    names = [u.name for u in ups]
    too_big = [u for u in ups if u.size > MAX_UPLOAD_MB * MB]
    if too_big:
        _refuse(ctx, f"refused: {too_big[0].name} is larger than {MAX_UPLOAD_MB} MB", names)
        return
    files = [Upload(u.name, u.getvalue()) for u in ups]
    digest = _upload_digest(files) + f"|{options.date_order}|{'|'.join(options.missing)}"
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
            _refuse(ctx, f"refused: the upload could not be read ({type(exc).__name__})", names)
            return
        audit.record("validate", ctx.actor, {"files": names, "upload_sha256": digest.split("|")[0], "problems": report.frame.height,
                                             "format": report.source_format, "date_order": options.date_order,
                                             "errors": report.errors.height},
                     result="ok" if report.ok else "rejected", role=ctx.role,
                     path=audit.default_audit_path(ctx.store.path))
        staged = {"digest": digest, "ok": report.ok, "names": names, **_report_frames(report, shown)}
        st.session_state[STAGED] = staged
    if not staged["ok"]:
        st.error(f"The upload has {staged['errors']:,} error(s); nothing can be loaded until they are fixed.",
                 icon=":material/error:")
    _show_report(ctx, staged)
    if not staged["ok"]:
        return
    n_warn = staged["n_problems"]
    st.success(f"Valid: {md_text(', '.join(names), 400)}" + (f" ({n_warn:,} warning(s): read them above)" if n_warn else ""),
               icon=":material/check_circle:")
    confirm = st.checkbox("Replace the current dataset with this upload (the current one is kept as a backup)",
                          key="data_confirm")
    if st.button("Load", type="primary", disabled=not confirm, key="data_load", icon=":material/upload:"):
        try:
            with stage_upload(files) as path:
                meta = import_registry(path, ctx.store.path, actor=ctx.actor, options=options, role=ctx.role)
        except UploadRefused as exc:
            _refuse(ctx, str(exc), names)
            return
        except ImportRejected as exc:
            st.error(f"Rejected on load: {exc.report.errors.height:,} error(s).")
            return
        st.session_state.pop(STAGED, None)
        st.success(f"Loaded. Content hash {meta.get('content_hash')}; rows per table: {meta.get('table_counts')}.")


def audit_section(ctx: PageContext) -> None:
    st.subheader("Audit trail")
    path = audit.default_audit_path(ctx.store.path)
    log = audit.read(limit=500, path=path)
    found = audit.verify(path)
    if found.ok:
        st.caption(f"Append-only; keyed chain and anchored head intact. Newest first, last {log.height} events. "
                   f"({path.name}; `python -m dashboard audit verify` checks it from the command line.)")
    else:
        st.error("The audit trail fails verification: it was changed outside the app, or its key is missing.\n\n"
                 + "\n".join(f"- {line}" for line in found.report().splitlines()[1:]), icon=":material/gpp_bad:")
    st.dataframe(log, hide_index=True, width="stretch")


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
