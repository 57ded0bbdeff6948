"""Step 1 of the pipeline: find the format of an input and read it with its reader.

``read_source(path)`` -> :class:`~.model.RawRegistry` (text cells, nothing interpreted);
``read_registry(path)`` = ``read_source`` + :func:`~.normalise.normalise` (step 2).

Formats:

``csv``
    A folder with one ``<table>.csv`` per source table (:mod:`.reader_csv`).
``xlsx`` / ``ods`` / ``xls``
    A workbook with one sheet per table (:mod:`.reader_workbook`).
``redcap``
    A folder without ``subject.csv`` holding a REDCap data dictionary
    (``*DataDictionary*.csv`` or ``data_dictionary.csv``) and a records export, or the
    records CSV itself with the dictionary beside it (:mod:`.reader_redcap`); the project's
    event definition (events or instrument-event mapping CSV, project XML) beside them
    orders the events.
"""

from __future__ import annotations

from pathlib import Path

from ..i18n import _
from ..schema import TABLE_NAMES
from .model import ROW, RawRegistry, RawTable, dedupe_header, printable, sha256_bytes  # noqa: F401 - re-exported
from .normalise import Options, normalise
from .reader_csv import DICT_RE, inside, read_csv_folder
from .reader_redcap import metadata_kind, read_redcap
from .reader_workbook import WORKBOOK_SUFFIXES, read_workbook
from .report import ERROR, WARNING, Problem
from .text import decode_csv_bytes, parse_csv_bytes  # noqa: F401 - earlier API

_DICT_RE = DICT_RE


def _csvs(folder: Path) -> list[Path]:
    return [p for p in sorted(folder.iterdir()) if p.suffix.lower() == ".csv" and p.is_file() and inside(folder, p)]


def find_redcap_metadata(folder: Path) -> list[Path]:
    """The project's event definition files in a folder (events / instrument-event mapping /
    arms CSV, project XML), told by content."""
    files = [p for p in sorted(folder.iterdir()) if p.suffix.lower() in (".csv", ".xml") and p.is_file() and inside(folder, p)]
    return [p for p in files if not DICT_RE.search(p.stem) and metadata_kind(p) is not None]


def find_redcap_files(folder: Path) -> tuple[Path, Path] | None:
    """(records, dictionary) in a folder, or None if it holds no REDCap data dictionary."""
    csvs = _csvs(folder)
    dicts = [p for p in csvs if DICT_RE.search(p.stem)]
    if not dicts:
        return None
    meta = set(find_redcap_metadata(folder))
    others = [p for p in csvs if p not in dicts and p not in meta]
    preferred = [p for p in others if p.stem.lower() == "records" or "_data_" in p.name.lower() or p.stem.upper().endswith("_DATA")]
    return (preferred or others or [folder / "records.csv"])[0], dicts[0]


def detect_format(path: Path) -> str:
    if path.is_dir():
        names = {p.name.lower() for p in path.iterdir()}
        if "subject.csv" in names:  # a canonical folder (the template ships a REDCap dictionary too)
            return "csv"
        return "redcap" if find_redcap_files(path) is not None else "csv"
    if path.suffix.lower() in WORKBOOK_SUFFIXES:
        return WORKBOOK_SUFFIXES[path.suffix.lower()]
    if path.suffix.lower() == ".csv":
        return "redcap"
    raise ValueError(_("cannot tell the format of {path}: expected a folder of CSVs, a workbook (.xlsx, .ods, "
                        ".xls) or a REDCap export").format(path=path))


def read_source(path: str | Path, *, dictionary: str | Path | None = None, deferred: bool = False) -> RawRegistry:
    """Read an input of any supported format, without normalising it. ``deferred``: a CSV
    folder's tables are read one at a time when validation reaches them (bounded memory)."""
    path = Path(path).expanduser().absolute()
    if not path.exists():
        reg = RawRegistry("csv", path)
        reg.problems.append(Problem(printable(path), None, None, None, "path_missing", _("{path} does not exist").format(path=printable(path))))
        reg.unreadable.update(TABLE_NAMES)
        return reg
    path = path.resolve()
    try:
        fmt = "redcap" if dictionary is not None else detect_format(path)
    except ValueError as e:
        reg = RawRegistry("csv", path)
        reg.problems.append(Problem(printable(path.name), None, None, None, "file_unreadable", printable(e)))
        reg.unreadable.update(TABLE_NAMES)
        return reg
    if fmt == "csv":
        return read_csv_folder(path, deferred=deferred)
    if fmt in ("xlsx", "ods", "xls"):
        return read_workbook(path)
    if path.is_dir():
        found = find_redcap_files(path)
        assert found is not None
        records, dict_path = found
    else:
        records = path
        if dictionary is not None:
            dict_path = Path(dictionary)
        else:
            near = [p for p in _csvs(path.parent) if DICT_RE.search(p.stem)]
            if not near:
                reg = RawRegistry("redcap", path)
                reg.problems.append(
                    Problem(path.name, None, None, None, "missing_dictionary",
                            _("a REDCap records CSV needs its data dictionary (*DataDictionary*.csv or data_dictionary.csv) beside it"))
                )
                reg.unreadable.update(TABLE_NAMES)
                return reg
            dict_path = near[0]
    return read_redcap(records, dict_path, find_redcap_metadata(records.parent))


def read_registry(path: str | Path, *, dictionary: str | Path | None = None, options: Options | None = None,
                  deferred: bool = False) -> RawRegistry:
    """Read (step 1) and normalise (step 2) an input; see the module docstring.

    Parameters
    ----------
    path : a folder of ``<table>.csv``; a workbook; a folder with a REDCap records CSV
        and data dictionary; or a REDCap records CSV (its dictionary found beside it, or
        given as ``dictionary``).
    options : date order, missing-value markers (:class:`~.normalise.Options`).
    deferred : leave a CSV folder's tables to be read, normalised, typed and freed one at a
        time by :func:`~.validate.validate` (what ``validate_path`` and ``import_registry``
        do: a million-patient folder is never all text at once). ``RawRegistry.load_all()``
        reads them at once.
    """
    return normalise(read_source(path, dictionary=dictionary, deferred=deferred), options or Options())


def read_xlsx(path: str | Path) -> RawRegistry:
    """A workbook, read and normalised (earlier name)."""
    return normalise(read_workbook(Path(path)), Options())


__all__ = ["RawRegistry", "RawTable", "read_registry", "read_source", "ROW", "ERROR", "WARNING"]
