"""Make the LibreOffice fixtures (run by hand; LibreOffice is not a project dependency).

    apt-get install -y --no-install-recommends libreoffice-calc-nogui
    PYTHONPATH=src:tests python tests/libreoffice/make_fixtures.py [SOURCE ...]

Each source is a workbook of the import corpus (tests/ingest_corpus/corpus.py: the small
valid registry of tests/malformed/valid_registry.py as typed cells, or with dates written
as day/month/year text). LibreOffice Calc opens it headless and saves it as .ods, as .xlsx
and as .xls (BIFF8, "MS Excel 97"), so every fixture is a file written by LibreOffice
itself. tests/test_ingest_libreoffice.py imports them against the CSV
folder they encode.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from ingest_corpus import corpus  # noqa: E402
from ingest_corpus.corpus import DMY, xlsx_case  # noqa: E402

from dashboard.ingest import validate_path  # noqa: E402

# title_rows: every sheet starts with an empty row, a merged Chinese title, an empty row;
# the header is row 4 and S002's age (sheet row 6) is the text "fifty" (an error whose row
# number must be the one LibreOffice shows)
TITLE = ("北京大学肿瘤医院 直肠癌等待观察 数据库 2019-2024")
SOURCES = {"typed": xlsx_case(), "text_dates_dmy": xlsx_case(text_dates=DMY),
           "title_rows": xlsx_case(above=(None, TITLE, None), merge=True, cells={"subject": {(5, 5): "fifty"}})}
FILTERS = {"ods": "ods:calc8", "xlsx": "xlsx:Calc MS Excel 2007 XML", "xls": "xls:MS Excel 97"}


def soffice(work: Path, target: str, src: Path, out: Path) -> Path:
    subprocess.run(["soffice", f"-env:UserInstallation=file://{work}/profile", "--headless", "--convert-to", target,
                    "--outdir", str(out), str(src)], check=True, capture_output=True, timeout=600)
    made = out / (src.stem + "." + target.split(":")[0])
    assert made.exists(), made
    return made


def main(only: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        typed = validate_path(corpus.vr.write_valid(work / "csv")).tables
        for name, build in SOURCES.items():
            if only and name not in only:
                continue
            src = build(work / f"src_{name}", typed)
            for fmt, target in FILTERS.items():
                shutil.copy2(soffice(work, target, src, work / f"{fmt}_{name}"), HERE / f"{name}.{fmt}")
    version = subprocess.run(["soffice", "--version"], capture_output=True, text=True).stdout.strip()
    (HERE / "VERSION.txt").write_text(version + "\n", encoding="utf-8")
    print("wrote", sorted(p.name for p in HERE.iterdir() if p.suffix in (".ods", ".xlsx", ".xls")), "with", version)


if __name__ == "__main__":
    main(sys.argv[1:])  # names of SOURCES to make (default: all)
