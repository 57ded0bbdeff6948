"""DuckDB store: building a database file, swapping it in atomically, reading it.

A store is one DuckDB file (default ``data/registry.duckdb``). It is never modified in
place. :func:`build_store` writes a new file next to it, fills the source tables, derives
the analysis tables, records provenance, and only then ``os.replace``\\ s it over the
served file, after hard-linking the previous file into ``data/backups/``. A failure at
any point -- an exception, or the process being killed -- leaves the served file
byte-for-byte as it was; the half-built temporary file is removed (or, after SIGKILL,
swept up by the next build).

Readers use :class:`Store`: one read-only connection per process, a cursor per query,
and a check of the file's identity so a running app sees a new build without a restart.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import duckdb
import polars as pl

from . import __version__
from .i18n import gettext as _
from .schema import SCHEMA_VERSION, TABLE_NAMES, TABLES, table

DB_ENV = "DASHBOARD_DB"
DEFAULT_DB = Path(__file__).resolve().parents[2] / "data" / "registry.duckdb"
META_TABLE = "_meta"
TMP_PREFIX = ".building-"
BACKUP_DIR = "backups"
SERVING_DIR = ".serving"
BACKUPS_KEPT = 5


class StoreError(RuntimeError):
    """The store is missing or unusable."""


SERVING_MEMORY_ENV = "DASHBOARD_DUCKDB_MEMORY"
SERVING_MEMORY_DEFAULT = "1GB"


def serving_config() -> dict[str, str]:
    """DuckDB settings of the app's read-only connections.

    ``memory_limit`` bounds DuckDB's buffer pool (cached file blocks and query
    intermediates; its own default is 80% of the machine's RAM), so a long-running server
    stays within a known budget; larger intermediates spill to a temporary file.
    ``$DASHBOARD_DUCKDB_MEMORY`` overrides it (DuckDB syntax, e.g. ``2GB``)."""
    return {"memory_limit": os.environ.get(SERVING_MEMORY_ENV, SERVING_MEMORY_DEFAULT)}


def default_db_path() -> Path:
    """The served database: ``$DASHBOARD_DB`` or ``data/registry.duckdb``."""
    env = os.environ.get(DB_ENV)
    return Path(env).expanduser().resolve() if env else DEFAULT_DB


# --------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------
def create_source_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the empty source tables. Keys are checked by the validator / generator,
    not by DuckDB index constraints (an ART index on 50M QoL rows costs gigabytes)."""
    for t in TABLES:
        cols = ", ".join(f"{c.name} {c.duckdb_type}" for c in t.columns)
        con.execute(f"CREATE TABLE {t.name} ({cols})")


def insert_frame(con: duckdb.DuckDBPyConnection, table_name: str, df: pl.DataFrame) -> None:
    """Append a Polars frame to a source table, matching columns by name.

    Columns of the schema missing from ``df`` are inserted as NULL; extra columns are an
    error. Values are cast to the schema's DuckDB types by DuckDB.
    """
    t = table(table_name)
    extra = set(df.columns) - set(t.column_names)
    if extra:
        raise ValueError(f"{table_name}: columns not in the schema: {sorted(extra)}")
    if df.height == 0:
        return
    arrow = df.to_arrow()
    select = ", ".join(
        f"CAST({c.name} AS {c.duckdb_type}) AS {c.name}" if c.name in df.columns else f"CAST(NULL AS {c.duckdb_type}) AS {c.name}"
        for c in t.columns
    )
    con.register("_incoming", arrow)
    try:
        con.execute(f"INSERT INTO {t.name} SELECT {select} FROM _incoming")
    finally:
        con.unregister("_incoming")


def content_hash(con: duckdb.DuckDBPyConnection) -> str:
    """Order-independent fingerprint of every source table's rows (sha256, hex).

    Uses DuckDB's row hash XOR-ed over rows (rows are unique by primary key), so two
    stores with the same rows have the same hash whatever the insertion order.
    """
    h = hashlib.sha256()
    for name in TABLE_NAMES:
        n, x = con.execute(f"SELECT count(*), coalesce(bit_xor(hash(t)), 0) FROM {name} AS t").fetchone()
        h.update(f"{name}:{n}:{x};".encode())
    return h.hexdigest()


def table_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return {name: con.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for name in TABLE_NAMES}


def _write_meta(con: duckdb.DuckDBPyConnection, provenance: Mapping[str, Any]) -> dict[str, str]:
    meta = {
        "app_version": __version__,
        "schema_version": SCHEMA_VERSION,
        "built_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "content_hash": content_hash(con),
        "table_counts": json.dumps(table_counts(con)),
    }
    meta.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in provenance.items()})
    con.execute(f"CREATE TABLE {META_TABLE} (key VARCHAR PRIMARY KEY, value VARCHAR)")
    con.executemany(f"INSERT INTO {META_TABLE} VALUES (?, ?)", sorted(meta.items()))
    return meta


def _sweep_stale_tmp(directory: Path) -> None:
    """Remove temporary files left by a build whose process died (SIGKILL)."""
    for p in directory.glob(f"{TMP_PREFIX}*"):
        try:
            pid = int(p.name[len(TMP_PREFIX) :].split(".")[0])
        except ValueError:
            continue
        if pid == os.getpid() or _pid_alive(pid):
            continue
        p.unlink(missing_ok=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _backup(db_path: Path) -> Path | None:
    """Hard-link the current file into backups/ (no copy; the inode survives the swap)."""
    if not db_path.exists():
        return None
    bdir = db_path.parent / BACKUP_DIR
    bdir.mkdir(exist_ok=True)
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    target = bdir / f"{db_path.stem}-{stamp}{db_path.suffix}"
    try:
        os.link(db_path, target)
    except OSError:
        import shutil

        shutil.copy2(db_path, target)
    old = sorted(bdir.glob(f"{db_path.stem}-*{db_path.suffix}"))
    for p in old[:-BACKUPS_KEPT]:
        p.unlink(missing_ok=True)
    return target


def build_store(
    db_path: Path | str,
    fill: Callable[[duckdb.DuckDBPyConnection], None],
    provenance: Mapping[str, Any],
    *,
    derive: bool = True,
    before_swap: Callable[[Path], None] | None = None,
) -> dict[str, str]:
    """Build a complete store in a temporary file and swap it in atomically.

    Parameters
    ----------
    db_path : path of the served database file.
    fill : called with a read-write connection on the new file, whose source tables
        exist and are empty; it inserts the rows (see :func:`insert_frame`).
    provenance : recorded in the ``_meta`` table; must include ``source``
        (``"synthetic"`` or ``"imported"``).
    derive : build the analysis tables (``adsl``, ``adtte``, ...).
    before_swap : test hook, called with the finished temporary file.

    Returns
    -------
    dict : the metadata written into the store.
    """
    if provenance.get("source") not in {"synthetic", "imported"}:
        raise ValueError("provenance['source'] must be 'synthetic' or 'imported'")
    db_path = Path(db_path).resolve()
    db_path.parent.mkdir(parents=True, exist_ok=True)
    _sweep_stale_tmp(db_path.parent)
    tmp = db_path.parent / f"{TMP_PREFIX}{os.getpid()}.{threading.get_ident()}.{db_path.name}"
    tmp.unlink(missing_ok=True)
    try:
        con = duckdb.connect(str(tmp))
        try:
            create_source_tables(con)
            fill(con)
            if derive:
                from .derive import build_analysis_tables

                build_analysis_tables(con)
            meta = _write_meta(con, provenance)
            con.execute("CHECKPOINT")
        finally:
            con.close()
        _fsync_path(tmp)
        if before_swap is not None:
            before_swap(tmp)
        backup = _backup(db_path)
        os.replace(tmp, db_path)
        dfd = os.open(db_path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
        if backup is not None:
            meta["backup"] = str(backup)
        return meta
    except BaseException:
        tmp.unlink(missing_ok=True)
        Path(str(tmp) + ".wal").unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------
def _identity(path: Path) -> tuple[int, int, int]:
    st = os.stat(path)
    return (st.st_dev, st.st_ino, st.st_mtime_ns)


class Store:
    """Read-only access to the served database, shared by all sessions of a process.

    ``cursor()`` hands out a new cursor on the current connection; when the file on disk
    has been replaced by a new build, the next ``cursor()`` opens the new file (existing
    cursors keep reading the snapshot they started on).
    """

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path).resolve() if path else default_db_path()
        self._lock = threading.Lock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._ident: tuple[int, int, int] | None = None
        self._meta: dict[str, str] | None = None

    def _current(self) -> duckdb.DuckDBPyConnection:
        if not self.path.exists():
            raise StoreError(
                _("No registry database at {path}. Build the demo with 'python -m dashboard demo' or import an "
                  "export with 'python -m dashboard import PATH'.").format(path=self.path)
            )
        ident = _identity(self.path)
        with self._lock:
            if self._con is None or ident != self._ident:
                con, ident = self._open_version()
                self._con, self._ident, self._meta = con, ident, None
                # the previous connection is left to the garbage collector so that
                # cursors other sessions still hold keep working on their snapshot.
            return self._con

    def _open_version(self) -> tuple[duckdb.DuckDBPyConnection, tuple[int, int, int]]:
        """Open the served file through a hard link named after its identity.

        DuckDB caches database instances by path inside a process, so reconnecting to
        the same path after a swap would return the old database. A per-version link
        gives every build its own path; unlinking an old one is safe while it is open.
        """
        serving = self.path.parent / SERVING_DIR
        for _attempt in range(5):
            ident = _identity(self.path)
            link = serving / f"{self.path.stem}-{ident[1]}-{ident[2]}{self.path.suffix}"
            try:
                serving.mkdir(exist_ok=True)
                try:
                    os.link(self.path, link)
                except FileExistsError:
                    pass
            except OSError:  # read-only data directory: no swap detection needed there
                return duckdb.connect(str(self.path), read_only=True, config=serving_config()), ident
            if os.stat(link).st_ino != ident[1]:  # replaced between stat and link: retry
                link.unlink(missing_ok=True)
                continue
            con = duckdb.connect(str(link), read_only=True, config=serving_config())
            for old in serving.glob(f"{self.path.stem}-*{self.path.suffix}"):
                if old != link:
                    old.unlink(missing_ok=True)
            return con, ident
        raise StoreError(_("{path} keeps changing; could not open a stable version").format(path=self.path))

    @property
    def version(self) -> tuple[int, int, int]:
        """Identity of the file currently served (changes with every build); a cache key."""
        self._current()
        assert self._ident is not None
        return self._ident

    def cursor(self) -> duckdb.DuckDBPyConnection:
        return self.snapshot()[1]

    def snapshot(self) -> tuple[tuple[int, int, int], duckdb.DuckDBPyConnection]:
        """The served version and a cursor on it, taken together (a query run on the
        cursor reads exactly that version, whatever is swapped in meanwhile)."""
        self._current()
        with self._lock:
            assert self._con is not None and self._ident is not None
            return self._ident, self._con.cursor()

    @contextmanager
    def query_cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        cur = self.cursor()
        try:
            yield cur
        finally:
            cur.close()

    def sql(self, query: str, params: list[Any] | dict[str, Any] | None = None) -> pl.DataFrame:
        """Run a parameterised query and return a Polars frame."""
        with self.query_cursor() as cur:
            return cur.sql(query, params=params or None).pl()

    def meta(self) -> dict[str, str]:
        con = self._current()
        if self._meta is None:
            rows = con.cursor().execute(f"SELECT key, value FROM {META_TABLE}").fetchall()
            self._meta = dict(rows)
        return dict(self._meta)

    def is_synthetic(self) -> bool:
        return self.meta().get("source") == "synthetic"

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
            self._con = None
            self._ident = None

    def pinned(self) -> "PinnedStore":
        """This store pinned to the version served now: every query on the result reads
        that version, whatever is swapped in meanwhile (one page run, one snapshot)."""
        self._current()
        with self._lock:
            assert self._con is not None and self._ident is not None
            return PinnedStore(self.path, self._ident, self._con, self._meta, self._lock)


class PinnedStore(Store):
    """One version of a :class:`Store` (:meth:`Store.pinned`): ``version``, ``cursor()`` and
    ``meta()`` never move to a newer build. It holds the version's connection, so the
    version stays readable for as long as the pinned store is in use."""

    def __init__(self, path: Path, ident: tuple[int, int, int], con: duckdb.DuckDBPyConnection,
                 meta: dict[str, str] | None = None, lock: threading.Lock | None = None) -> None:
        super().__init__(path)
        self._con, self._ident, self._meta = con, ident, meta
        if lock is not None:  # cursors on the shared connection are taken under the store's own lock
            self._lock = lock

    def _current(self) -> duckdb.DuckDBPyConnection:
        assert self._con is not None
        return self._con

    def pinned(self) -> "PinnedStore":
        return self

    def close(self) -> None:  # the connection belongs to the process-wide store
        pass


def read_meta(db_path: Path | str) -> dict[str, str]:
    """Provenance of a database file, opened read-only and closed again."""
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        return dict(con.execute(f"SELECT key, value FROM {META_TABLE}").fetchall())
    finally:
        con.close()
