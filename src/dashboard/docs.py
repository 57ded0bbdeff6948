"""Generated documentation: docs/data-dictionary.md, docs/endpoints.md and docs/mapping.md.

Both are written from code (schema.py, derive.py) by ``python -m dashboard docs``; a test
fails when the committed files differ from what the code generates.
"""

from __future__ import annotations

from pathlib import Path

from .derive import endpoints_markdown
from .i18n import gettext, language
from .schema import QOL_SCALES, SCHEMA_VERSION, TABLES, TRG_GRADES, VOCABULARIES

DOCS_DIR = Path(__file__).resolve().parents[2] / "docs"


def _cell(s: str) -> str:
    return s.replace("|", "\\|")


def data_dictionary_markdown() -> str:
    out = [
        "# Data dictionary",
        "",
        f"Schema version {SCHEMA_VERSION}. Generated from `src/dashboard/schema.py` by "
        "`python -m dashboard docs`; do not edit by hand.",
        "",
        "Canonical import format: a folder with one UTF-8 CSV per table, named `<table>.csv`, "
        "header row = column names below, dates `YYYY-MM-DD`, booleans `true`/`false`, codes as listed, "
        "an empty cell = missing. Labels are shown in English and in Simplified Chinese (the dashboard's two "
        "languages; the Chinese comes from `src/dashboard/locale/zh_CN/LC_MESSAGES/core.po`). `subject.csv` and `follow_up.csv` are required; the other tables may be "
        "absent when they have no rows. Header-only templates: `docs/import-template/`.",
        "",
        "## Tables",
        "",
        "| table | one row per | primary key | references |",
        "|---|---|---|---|",
    ]
    for t in TABLES:
        refs = "; ".join(f"({', '.join(fk.columns)}) -> {fk.table}" for fk in t.foreign_keys) or "-"
        out.append(f"| `{t.name}` | {_cell(t.description)} | {', '.join(t.primary_key)} | {refs} |")
    out.append("")
    for t in TABLES:
        out += [f"## `{t.name}`", "", t.description, "", "| column | type | required | values | description |", "|---|---|---|---|---|"]
        for c in t.columns:
            if c.vocab:
                values = f"[{c.vocab}](#vocabulary-{c.vocab.replace('_', '-')})"
            elif c.min is not None or c.max is not None:
                values = f"{c.min:g} to {c.max:g}" + (f" {c.unit}" if c.unit else "")
            elif c.max_length:
                values = f"text, at most {c.max_length} characters"
            else:
                values = ""
            typ = "code" if c.type == "code" else c.type
            out.append(f"| `{c.name}` | {typ} | {'yes' if c.required else ''} | {values} | {_cell(c.description)} |")
        out.append("")
    out += ["## Vocabularies", ""]
    for v in VOCABULARIES.values():
        with language("zh"):
            zh_description, zh = gettext(v.description), v.labels
        out += [f"### vocabulary {v.name}", "", v.description + (f" ({zh_description})" if zh_description != v.description else ""),
                "", "| code | label | 简体中文 |", "|---|---|---|"]
        out += [f"| `{code}` | {_cell(label)} | {_cell(zh[code])} |" for code, label in v.items]
        out.append("")
    out += ["## Regression grades by system", "", "| system | grades |", "|---|---|"]
    out += [f"| `{k}` | {', '.join(v)} |" for k, v in TRG_GRADES.items()]
    out += ["", "## Quality-of-life scales", "", "| instrument | scale | label | kind | range | higher is better |", "|---|---|---|---|---|---|"]
    out += [
        f"| `{s.instrument}` | `{s.code}` | {s.label} | {s.kind} | {s.low:g}-{s.high:g} | {'yes' if s.higher_is_better else 'no'} |"
        for s in QOL_SCALES
    ]
    out.append("")
    return "\n".join(out)


def _mapping_markdown() -> str:
    from .ingest.mapping import mapping_markdown

    return mapping_markdown()


GENERATED = {
    "data-dictionary.md": data_dictionary_markdown,
    "endpoints.md": endpoints_markdown,
    "mapping.md": _mapping_markdown,
}


def write_docs(directory: Path = DOCS_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, fn in GENERATED.items():
        p = directory / name
        p.write_text(fn())
        written.append(p)
    return written


def stale_docs(directory: Path = DOCS_DIR) -> list[str]:
    """Names of generated docs whose committed text differs from the code's."""
    return [name for name, fn in GENERATED.items() if not (directory / name).exists() or (directory / name).read_text() != fn()]
