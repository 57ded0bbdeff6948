"""Generated docs must match the code that generates them."""

from dashboard.docs import GENERATED, DOCS_DIR, stale_docs
from dashboard.schema import TABLES, VOCABULARIES


def test_generated_docs_are_current():
    assert stale_docs() == [], "run: python -m dashboard docs"


def test_data_dictionary_lists_every_column_and_code():
    text = (DOCS_DIR / "data-dictionary.md").read_text()
    for t in TABLES:
        for c in t.columns:
            assert f"| `{c.name}` |" in text, f"{t.name}.{c.name}"
    for v in VOCABULARIES.values():
        for code in v.codes:
            assert f"| `{code}` |" in text


def test_stale_doc_is_detected(tmp_path):
    for name, fn in GENERATED.items():
        (tmp_path / name).write_text(fn())
    assert stale_docs(tmp_path) == []
    (tmp_path / "endpoints.md").write_text("edited by hand\n")
    assert stale_docs(tmp_path) == ["endpoints.md"]
