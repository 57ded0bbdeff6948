"""Catalog maintenance for :mod:`dashboard.i18n` (a developer's and translator's tool,
run from the repository): extract messages from the code, update the ``.po`` files,
compile ``.mo``, and check the catalogs.

    python -m dashboard i18n extract      # code -> every language's .po (keeps translations)
    python -m dashboard i18n compile      # .po -> .mo (make install runs it)
    python -m dashboard i18n check        # exit 1 on a missing/stale/fuzzy entry or placeholder mismatch
    python -m dashboard i18n todo [--domain ui] [--lang zh]   # untranslated msgids as JSON
    python -m dashboard i18n apply FILE.json [--lang zh]      # {msgid: msgstr} into the catalogs

Extraction uses Babel's Python extractor with the keywords ``_``, ``gettext``,
``ngettext``, ``pgettext`` and ``N_``, plus messages taken from the schema itself
(vocabulary labels and descriptions), so a code label added to ``schema.py`` is a
catalog entry without anyone marking it.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from .i18n import DOMAINS, KEPT_ABBREVIATIONS, LANGUAGES, LOCALE_DIR, SOURCE_LANGUAGE, placeholders

REPO = LOCALE_DIR.parents[2]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2), "N_": None}
PROJECT = "NOR-MP organ-preservation registry dashboard"

# Glossary terms a translation must use (../shared/glossary-zh.md and docs/glossary-zh.md):
# when the English text holds the term (whole words, any case), the Chinese holds this.
STRICT_TERMS: dict[str, str] = {
    "Watch & Wait": "观察等待",
    "organ preservation": "器官保留",
    "organ-preservation survival": "器官保留生存",
    "radical surgery": "根治性手术",
    "local excision": "局部切除",
    "salvage surgery": "挽救性手术",
    "local regrowth": "局部再生长",
    "distant metastasis": "远处转移",
    "overall survival": "总生存",
    "disease-free survival": "无病生存",
    "number at risk": "风险人数",
    "hazard ratio": "风险比",
    "confidence interval": "置信区间",
    "adverse event": "不良事件",
    "quality of life": "生活质量",
    "presentation mode": "演示模式",
    "restaging": "再分期",
    "neoadjuvant immunotherapy": "新辅助免疫治疗",
    "data cut-off": "数据截止",
    "synthetic": "模拟",
    "censored": "删失",
}


def po_path(lang: str, domain: str) -> Path:
    return LOCALE_DIR / LANGUAGES[lang][0] / "LC_MESSAGES" / f"{domain}.po"


def domain_of(rel: str) -> str | None:
    """The domain of a repository-relative path (first matching prefix), or None."""
    for domain, prefixes in DOMAINS.items():
        if any(rel == p or (p.endswith("/") and rel.startswith(p)) for p in prefixes):
            return domain
    return None


def _source_files() -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {d: [] for d in DOMAINS}
    candidates = [REPO / "app.py", *sorted((REPO / "pages").glob("*.py")),
                  *sorted((REPO / "src" / "dashboard").rglob("*.py"))]
    for path in candidates:
        rel = path.relative_to(REPO).as_posix()
        if path.name in ("i18n.py", "i18n_catalog.py"):
            continue
        d = domain_of(rel)
        if d:
            out[d].append(path)
    return out


def _schema_messages() -> list[tuple[str, str]]:
    """(message, location) for every vocabulary label and description in the schema."""
    from .schema import VOCABULARIES

    out = [("Missing", "src/dashboard/schema.py")]
    for v in VOCABULARIES.values():
        if v.description:
            out.append((v.description, f"schema:vocabulary:{v.name}"))
        out += [(label, f"schema:vocabulary:{v.name}") for _, label in v.items]
    return out


def extract(domain: str):
    """The template catalog (POT) of one domain, from the code."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_file

    cat = Catalog(project=PROJECT, fuzzy=False)
    for path in _source_files()[domain]:
        rel = path.relative_to(REPO).as_posix()
        for lineno, message, comments, context in extract_from_file(
            "python", str(path), keywords=KEYWORDS, comment_tags=("i18n:",), strip_comment_tags=True,
        ):
            if not message or (isinstance(message, tuple) and not message[0]):
                continue
            cat.add(message, locations=[(rel, None)], auto_comments=comments, context=context)
    if domain == "core":
        for message, where in _schema_messages():
            cat.add(message, locations=[(where, None)])
    return cat


def _read(path: Path):
    from babel.messages.pofile import read_po

    with path.open("rb") as fh:
        return read_po(fh)


def _write(path: Path, catalog) -> None:
    from babel.messages.pofile import write_po

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        write_po(fh, catalog, width=0, sort_output=True, include_lineno=False, ignore_obsolete=True)


def _languages(lang: str | None) -> list[str]:
    return [lang] if lang else [code for code in LANGUAGES if code != SOURCE_LANGUAGE]


def update(lang: str | None = None, domains: Iterable[str] = DOMAINS) -> dict[str, tuple[int, int]]:
    """Extract and merge into the ``.po`` files; returns {po: (entries, untranslated)}."""
    from babel.messages.catalog import Catalog

    report = {}
    for domain in domains:
        template = extract(domain)
        for code in _languages(lang):
            path = po_path(code, domain)
            if path.exists():
                cat = _read(path)
            else:
                cat = Catalog(locale=LANGUAGES[code][0], domain=domain, project=PROJECT, fuzzy=False)
            cat.update(template, no_fuzzy_matching=True, update_header_comment=False, update_creation_date=False)
            _write(path, cat)
            todo = sum(1 for m in cat if m.id and (not _translated(m) or m.fuzzy))
            report[str(path.relative_to(REPO))] = (sum(1 for m in cat if m.id), todo)
    return report


def _translated(message) -> bool:
    s = message.string
    if isinstance(s, (tuple, list)):
        return all(s)
    return bool(s)


def compile_all() -> list[Path]:
    """Write the ``.mo`` beside every ``.po`` (fuzzy entries left out)."""
    from babel.messages.mofile import write_mo

    written = []
    for po in sorted(LOCALE_DIR.glob("*/LC_MESSAGES/*.po")):
        cat = _read(po)
        mo = po.with_suffix(".mo")
        with mo.open("wb") as fh:
            write_mo(fh, cat, use_fuzzy=False)
        written.append(mo)
    return written


@dataclass(frozen=True)
class Problem:
    file: str
    msgid: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.msgid[:90]!r}: {self.reason}"


def _abbrev_pattern(abbr: str) -> re.Pattern:
    return re.compile(r"(?<![A-Za-z0-9-])" + re.escape(abbr) + r"(?![A-Za-z0-9-])")


_ABBREV = {a: _abbrev_pattern(a) for a in KEPT_ABBREVIATIONS}
_TERMS = {en: (re.compile(r"(?<![A-Za-z])" + re.escape(en) + r"(?![A-Za-z])", re.I), zh) for en, zh in STRICT_TERMS.items()}


def _is_punct(ch: str) -> bool:
    import unicodedata

    return unicodedata.category(ch).startswith(("P", "S"))


def _broken_emphasis(text: str) -> list[str]:
    """``**`` runs that CommonMark will not read as bold: a closing ``**`` after
    punctuation must be followed by a space, punctuation or the end (so ``**注意：**请``
    shows its asterisks), an opening ``**`` before punctuation must follow a space,
    punctuation or the start (``文字**（OPS）**``)."""
    out = []
    text = re.sub(r"\{[^{}]*\}", "x", text)  # a placeholder is filled with a word or number
    runs = [m.start() for m in re.finditer(r"(?<!\*)\*\*(?!\*)", text)]
    for i, pos in enumerate(runs):
        before = text[pos - 1] if pos > 0 else " "
        after = text[pos + 2] if pos + 2 < len(text) else " "
        opening = i % 2 == 0
        ok_side = lambda ch: ch.isspace() or _is_punct(ch)  # noqa: E731
        if opening and _is_punct(after) and not ok_side(before):
            out.append(f"bold opened before {after!r} right after {before!r}: Markdown shows the asterisks")
        if not opening and _is_punct(before) and not ok_side(after):
            out.append(f"bold closed after {before!r} right before {after!r}: Markdown shows the asterisks")
    return out


def message_problems(msgid: str, msgstr: str, lang: str) -> list[str]:
    """What is wrong with one translation (empty list: nothing)."""
    out = []
    if not msgstr:
        return ["no translation"]
    if placeholders(msgid) != placeholders(msgstr):
        out.append(f"placeholders differ: {placeholders(msgid)} vs {placeholders(msgstr)}")
    for abbr, pat in _ABBREV.items():
        if pat.search(msgid) and abbr not in msgstr:
            out.append(f"keeps the abbreviation {abbr!r} in Latin script")
    if "**" in msgstr and not _broken_emphasis(msgid):
        out += _broken_emphasis(msgstr)
    if lang == "zh":
        for en, (pat, zh) in _TERMS.items():
            if pat.search(msgid) and zh not in msgstr:
                out.append(f"uses the glossary term {en!r} = {zh!r}")
    return out


def check(lang: str | None = None, domains: Iterable[str] = DOMAINS) -> list[Problem]:
    """Every problem in the catalogs: stale (code and catalog disagree), untranslated or
    fuzzy entries, placeholders that differ, kept abbreviations or glossary terms lost."""
    problems: list[Problem] = []
    for domain in domains:
        template = extract(domain)
        wanted = {(m.id if not isinstance(m.id, tuple) else m.id[0], m.context) for m in template if m.id}
        for code in _languages(lang):
            path = po_path(code, domain)
            rel = str(path.relative_to(REPO))
            if not path.exists():
                problems.append(Problem(rel, "", "catalog missing: run `python -m dashboard i18n extract`"))
                continue
            cat = _read(path)
            have = {}
            for m in cat:
                if m.id:
                    have[(m.id if not isinstance(m.id, tuple) else m.id[0], m.context)] = m
            for key in sorted(wanted - set(have), key=str):
                problems.append(Problem(rel, key[0], "in the code but not in the catalog (stale: run i18n extract)"))
            for key in sorted(set(have) - wanted, key=str):
                problems.append(Problem(rel, key[0], "in the catalog but no longer in the code (stale: run i18n extract)"))
            for key, m in have.items():
                if key not in wanted:
                    continue
                if m.fuzzy:
                    problems.append(Problem(rel, key[0], "fuzzy (unchecked) translation"))
                    continue
                ids = m.id if isinstance(m.id, tuple) else (m.id,)
                strs = m.string if isinstance(m.string, (tuple, list)) else (m.string,)
                for i, s in enumerate(strs):
                    for reason in message_problems(ids[min(i, len(ids) - 1)], s or "", code):
                        problems.append(Problem(rel, key[0], reason))
    return problems


def conflicts(lang: str | None = None) -> list[Problem]:
    """The same msgid (and context) translated differently in two catalogs: the catalogs are
    merged at run time, so only one of them shows. Use one translation, or ``pgettext``
    where the two places really need different words."""
    problems = []
    for code in _languages(lang):
        seen: dict[tuple, list[tuple[str, str]]] = {}
        for domain in DOMAINS:
            path = po_path(code, domain)
            if not path.exists():
                continue
            for m in _read(path):
                if m.id and isinstance(m.id, str) and m.string:
                    seen.setdefault((m.context, m.id), []).append((domain, m.string))
        for (context, msgid), found in sorted(seen.items(), key=lambda kv: str(kv[0])):
            if len({t for _, t in found}) > 1:
                problems.append(Problem(str(po_path(code, found[0][0]).relative_to(REPO)), msgid,
                                        "translated differently in " + ", ".join(f"{d}.po ({t!r})" for d, t in found)))
    return problems


def todo(lang: str = "zh", domains: Iterable[str] = DOMAINS) -> dict[str, str]:
    """{msgid: ""} for every untranslated or fuzzy entry (after an extract)."""
    out = {}
    for domain in domains:
        path = po_path(lang, domain)
        if not path.exists():
            continue
        for m in _read(path):
            if m.id and (m.fuzzy or not _translated(m)):
                key = m.id if isinstance(m.id, str) else m.id[0]
                if m.context:
                    key = f"{m.context}\x04{key}"
                out[key] = ""
    return out


def apply(translations: dict[str, str | list[str]], lang: str = "zh") -> int:
    """Write ``{msgid: msgstr}`` (``context\\x04msgid`` for a pgettext entry; a list for a
    plural entry) into every catalog holding that msgid; returns entries changed."""
    changed = 0
    for po in sorted((LOCALE_DIR / LANGUAGES[lang][0] / "LC_MESSAGES").glob("*.po")):
        cat = _read(po)
        dirty = False
        for m in cat:
            if not m.id:
                continue
            key = m.id if isinstance(m.id, str) else m.id[0]
            if m.context:
                key = f"{m.context}\x04{key}"
            if key in translations and translations[key]:
                value = translations[key]
                if isinstance(m.id, tuple):
                    value = tuple(value) if isinstance(value, list) else (value,)
                m.string = value
                m.flags.discard("fuzzy")
                dirty = True
                changed += 1
        if dirty:
            _write(po, cat)
    return changed


def main(argv: list[str]) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="dashboard i18n")
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("extract", help="update every .po from the code")
    e.add_argument("--lang")
    sub.add_parser("compile", help="compile .po to .mo")
    c = sub.add_parser("check", help="exit 1 when a catalog has a problem")
    c.add_argument("--lang")
    c.add_argument("--domain", action="append")
    t = sub.add_parser("todo", help="untranslated msgids as JSON")
    t.add_argument("--lang", default="zh")
    t.add_argument("--domain", action="append")
    a = sub.add_parser("apply", help="write translations from a JSON file")
    a.add_argument("file")
    a.add_argument("--lang", default="zh")
    args = p.parse_args(argv)
    if args.cmd == "extract":
        for po, (n, missing) in update(args.lang).items():
            print(f"{po}: {n} messages, {missing} untranslated")
    elif args.cmd == "compile":
        for mo in compile_all():
            print(f"wrote {mo.relative_to(REPO)}")
    elif args.cmd == "check":
        problems = check(args.lang, args.domain or list(DOMAINS)) + ([] if args.domain else conflicts(args.lang))
        for pr in problems:
            print(pr)
        print(f"{len(problems)} problem(s)")
        return 1 if problems else 0
    elif args.cmd == "todo":
        json.dump(todo(args.lang, args.domain or list(DOMAINS)), sys.stdout, ensure_ascii=False, indent=1)
        print()
    elif args.cmd == "apply":
        data = json.loads(Path(args.file).read_text(encoding="utf-8"))
        print(f"{apply(data, args.lang)} entries written")
    return 0
