"""The store: atomic build and swap, backups, SIGKILL safety, readers see new builds."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import polars as pl
import pytest

from builders import Registry, small_fill
from dashboard.store import TMP_PREFIX, Store, build_store, content_hash, insert_frame, read_meta


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_build_records_provenance_and_counts(tmp_path):
    db = tmp_path / "r.duckdb"
    meta = build_store(db, small_fill(3), {"source": "synthetic", "seed": 7})
    m = read_meta(db)
    assert m["source"] == "synthetic" and m["seed"] == "7"
    assert m["content_hash"] == meta["content_hash"]
    s = Store(db)
    assert s.sql("SELECT count(*) AS n FROM adsl")["n"][0] == 3
    assert s.is_synthetic()


def test_failed_build_leaves_store_unchanged_and_no_temp_file(tmp_path):
    db = tmp_path / "r.duckdb"
    build_store(db, small_fill(2), {"source": "synthetic"})
    before = sha(db)

    def bad_fill(con):
        small_fill(5)(con)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        build_store(db, bad_fill, {"source": "imported"})
    assert sha(db) == before
    assert not list(tmp_path.glob(f"{TMP_PREFIX}*"))


def test_successful_build_keeps_previous_file_as_backup(tmp_path):
    db = tmp_path / "r.duckdb"
    build_store(db, small_fill(2), {"source": "synthetic"})
    first = sha(db)
    meta = build_store(db, small_fill(4), {"source": "imported"})
    backup = Path(meta["backup"])
    assert backup.exists() and sha(backup) == first
    assert read_meta(db)["source"] == "imported"


def test_sigkill_during_build_leaves_store_byte_for_byte(tmp_path):
    db = tmp_path / "r.duckdb"
    build_store(db, small_fill(2), {"source": "synthetic"})
    before = sha(db)
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from builders import small_fill
        from dashboard.store import build_store
        def slow(con):
            small_fill(6)(con)
            print("filling", flush=True)
            time.sleep(60)
        build_store({str(db)!r}, slow, {{"source": "imported"}})
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "filling"
        assert list(tmp_path.glob(f"{TMP_PREFIX}*")), "the build writes to a temporary file"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert sha(db) == before
    # the next build sweeps the dead process's temporary file
    build_store(db, small_fill(1), {"source": "synthetic"})
    assert not list(tmp_path.glob(f"{TMP_PREFIX}*"))


def test_reader_sees_new_build_without_restart_and_old_cursor_keeps_snapshot(tmp_path):
    db = tmp_path / "r.duckdb"
    build_store(db, small_fill(2), {"source": "synthetic"})
    store = Store(db)
    old = store.cursor()
    assert old.execute("SELECT count(*) FROM subject").fetchone()[0] == 2
    v1 = store.version
    time.sleep(0.01)
    build_store(db, small_fill(5), {"source": "imported"})
    assert store.sql("SELECT count(*) AS n FROM subject")["n"][0] == 5
    assert store.version != v1
    assert store.meta()["source"] == "imported"
    assert old.execute("SELECT count(*) FROM subject").fetchone()[0] == 2


def test_content_hash_ignores_row_order(tmp_path):
    import duckdb

    from dashboard.store import create_source_tables

    reg = Registry()
    for i in range(4):
        reg.patient(f"S{i}").episode("WW", "2022-07-01")
    hashes = []
    for order in (1, -1):
        con = duckdb.connect()
        create_source_tables(con)
        for name, rows in reg.rows.items():
            insert_frame(con, name, pl.DataFrame(rows[::order]))
        hashes.append(content_hash(con))
    assert hashes[0] == hashes[1]
    reg.rows["subject"][0]["age"] = 56
    con = duckdb.connect()
    create_source_tables(con)
    for name, rows in reg.rows.items():
        insert_frame(con, name, pl.DataFrame(rows))
    assert content_hash(con) != hashes[0]


def test_insert_frame_rejects_unknown_columns():
    import duckdb

    from dashboard.store import create_source_tables

    con = duckdb.connect()
    create_source_tables(con)
    with pytest.raises(ValueError, match="not in the schema"):
        insert_frame(con, "subject", pl.DataFrame({"subject_id": ["a"], "name": ["x"]}))
    with pytest.raises(KeyError, match="unknown table"):
        insert_frame(con, "subject; DROP TABLE ae", pl.DataFrame({"subject_id": ["a"]}))


def test_serving_connections_have_a_bounded_buffer_pool(tmp_path, monkeypatch):
    """DuckDB's default memory limit is 80% of the machine; the app's read-only
    connections use DASHBOARD_DUCKDB_MEMORY (default 1GB) so a server stays in budget."""
    db = tmp_path / "r.duckdb"
    build_store(db, small_fill(2), {"source": "synthetic"})

    def limit(store: Store) -> str:
        return store.sql("SELECT current_setting('memory_limit') AS m")["m"][0]

    assert limit(Store(db)).replace(" ", "").upper().startswith(("953.6MIB", "1.0GB", "1GB", "1000.0MB"))
    monkeypatch.setenv("DASHBOARD_DUCKDB_MEMORY", "512MB")
    build_store(db, small_fill(3), {"source": "synthetic"})  # a new version: a new connection
    assert limit(Store(db)).replace(" ", "").upper() in ("488.2MIB", "512.0MB", "512MB")
