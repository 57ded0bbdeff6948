"""Rerun tests/r/*.R (when Rscript is available) and check the committed files are current.

The committed CSVs under tests/r/ are what make the other tests meaningful on machines
without R; this module only guards against them going stale.
"""

import shutil
import subprocess
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rref import DATA, REF, R_DIR

RSCRIPT = shutil.which("Rscript")
pytestmark = [
    pytest.mark.r,
    pytest.mark.skipif(RSCRIPT is None, reason="Rscript not on PATH; the committed R references are used as they are"),
]


def _run(script: str, *args: str) -> None:
    subprocess.run([RSCRIPT, str(R_DIR / script), *args], check=True, capture_output=True,
                   cwd=R_DIR.parents[1], timeout=300)


def _same(committed: Path, fresh: Path) -> None:
    names = sorted(p.name for p in committed.glob("*.csv"))
    assert names == sorted(p.name for p in fresh.glob("*.csv"))
    for name in names:
        a = pl.read_csv(committed / name, infer_schema_length=0)
        b = pl.read_csv(fresh / name, infer_schema_length=0)
        assert_frame_equal(a, b, check_exact=True), name


def test_data_files_are_reproducible(tmp_path):
    _run("make_data.R", str(tmp_path))
    _same(DATA, tmp_path)


def test_reference_files_are_current(tmp_path):
    _run("reference.R", str(tmp_path), str(DATA))
    _same(REF, tmp_path)
