"""Layout checks on an exported PDF, read back with pdfplumber: the smallest text,
overlapping words, anything outside the page. Used by tests/test_figure_layout.py and
bench/look_exports.py (the checks a production editor makes by eye)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field


@dataclass
class PdfLayout:
    width_pt: float
    height_pt: float
    pages: int
    min_size_pt: float
    words: list[dict] = field(default_factory=list)
    overlaps: list[tuple[str, str]] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    page_texts: list[str] = field(default_factory=list)

    @property
    def height_mm(self) -> float:
        return self.height_pt / 72 * 25.4

    def smallest(self, below: float) -> list[str]:
        return sorted({w["text"] for w in self.words if w["size"] < below - 0.05})

    def problems(self, min_pt: float) -> list[str]:
        out = []
        if self.min_size_pt < min_pt - 0.05:
            out.append(f"text {self.min_size_pt:.2f} pt < {min_pt} pt: {self.smallest(min_pt)[:6]}")
        if self.overlaps:
            out.append(f"{len(self.overlaps)} overlapping word pairs, e.g. {self.overlaps[:4]}")
        if self.outside:
            out.append(f"{len(self.outside)} words outside the page, e.g. {self.outside[:4]}")
        return out


def _overlap(a: dict, b: dict, tol: float) -> bool:
    return (min(a["x1"], b["x1"]) - max(a["x0"], b["x0"]) > tol
            and min(a["bottom"], b["bottom"]) - max(a["top"], b["top"]) > tol)


def _char_size(c: dict) -> float:
    # pdfminer's "size" of a rotated glyph is its advance; across the line is the size
    return float(c["size"]) if c.get("upright", True) else float(c["x1"] - c["x0"])


def _rotated(c: dict) -> bool:
    m = c.get("matrix") or (1, 0, 0, 1, 0, 0)
    return not c.get("upright", True) or abs(m[1]) > 1e-3 or abs(m[2]) > 1e-3


def analyse_pdf(pdf: bytes, *, tol: float = 0.5) -> PdfLayout:
    """Words of every page with their font size (pt), pairs of overlapping word boxes,
    words that leave the page.

    A glyph drawn several times at one place (a text halo) counts once; rotated text
    (axis titles) is checked for size and page bounds, not for overlap. Word boxes are
    trimmed by 18% of the size at top and bottom (pdfplumber boxes span the full em),
    and ``tol`` (pt) ignores boxes that only touch."""
    import pdfplumber

    words_all, overlaps, outside, texts = [], [], [], []
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        first = doc.pages[0]
        w, h = float(first.width), float(first.height)
        for page in doc.pages:
            pw, ph = float(page.width), float(page.height)
            seen: set = set()

            def keep(obj, seen=seen) -> bool:
                if obj.get("object_type") != "char":
                    return True
                key = (obj["text"], round(obj["x0"], 1), round(obj["top"], 1))
                if key in seen:
                    return False
                seen.add(key)
                return True

            page = page.filter(keep)
            chars = page.chars
            texts.append(page.extract_text() or "")
            for c in chars:
                if c["text"].strip() and (c["x0"] < -0.5 or c["top"] < -0.5 or c["x1"] > pw + 0.5
                                          or c["bottom"] > ph + 0.5):
                    outside.append(c["text"])
            rotated = [c for c in chars if _rotated(c) and c["text"].strip()]
            # a glyph turned by 90 degrees: its box width is its size; at other angles
            # the box mixes advance and size, so only its place is checked
            words_all += [dict(text=c["text"], size=_char_size(c), x0=c["x0"], x1=c["x1"], top=c["top"],
                               bottom=c["bottom"]) for c in rotated if abs(c["matrix"][0]) < 1e-3]
            upright = page.filter(lambda o: o.get("object_type") != "char" or not _rotated(o))
            words = upright.extract_words(extra_attrs=["size"], x_tolerance=1.5, y_tolerance=1.5)
            boxes = [dict(wd, top=wd["top"] + 0.18 * wd["size"], bottom=wd["bottom"] - 0.18 * wd["size"])
                     for wd in words]
            boxes.sort(key=lambda b: b["x0"])
            for i, a in enumerate(boxes):
                for b in boxes[i + 1:]:
                    if b["x0"] > a["x1"]:
                        break
                    if _overlap(a, b, tol):
                        overlaps.append((a["text"], b["text"]))
            words_all += words
        sizes = [wd["size"] for wd in words_all]
        return PdfLayout(w, h, len(doc.pages), min(sizes) if sizes else 0.0, words_all, overlaps, outside, texts)
