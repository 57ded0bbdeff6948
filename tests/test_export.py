"""Static export: every figure in every format at every size opens and has the requested
size; provenance footers; table formats; small-cell suppression.

Figures go through kaleido and Debian's Chromium (skipped when Chromium is missing)."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import plotly.graph_objects as go
import polars as pl
import pytest

from dashboard.figures import consort_figure, sankey_figure
from dashboard.figures.export import SIZES, figure_bytes, geometry, with_design_width
from dashboard.filters import CohortFilter
from dashboard.provenance import Provenance
from dashboard.queries.cohort import select_consort_flow, select_patient_counts, select_strategy_transitions
from dashboard.render import png_dpi, png_size
from dashboard.store import Store
from dashboard.tables.export import mask_identifiers, suppress_small_cells, table_bytes

CHROMIUM = os.environ.get("BROWSER_PATH", "/usr/bin/chromium")
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}")
FLT = CohortFilter(site=("RECTUM",), age=(30, 80))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from dashboard.synth import build_demo

    path = tmp_path_factory.mktemp("export") / "registry.duckdb"
    build_demo(path, 600, 11, progress=False)
    return Store(path)


@pytest.fixture(scope="module")
def prov(store):
    counts = select_patient_counts(store, FLT)
    return Provenance.from_meta(store.meta(), FLT, n=counts["n"], m=counts["m"])


@pytest.fixture(scope="module")
def figures(store):
    generic = go.Figure(go.Scatter(x=[0, 12, 24, 36], y=[1, 0.9, 0.8, 0.75], mode="lines", name="OS"))
    generic.update_layout(xaxis_title="Months", yaxis_title="Survival")
    return {"consort": with_design_width(consort_figure(select_consort_flow(store, FLT)), 1300),
            "sankey": sankey_figure(select_strategy_transitions(store, FLT)),
            "generic": generic}


def _mediabox(pdf: bytes) -> tuple[float, float]:
    m = re.search(rb"/MediaBox\s*\[\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*\]", pdf)
    assert m, "no MediaBox"
    x0, y0, x1, y1 = (float(v) for v in m.groups())
    return x1 - x0, y1 - y0


def _svg_size_mm(svg: bytes) -> tuple[float, float]:
    root = re.search(rb"<svg\b[^>]*>", svg).group(0).decode()
    w = re.search(r'\swidth="([\d.]+)mm"', root)
    h = re.search(r'\sheight="([\d.]+)mm"', root)
    assert w and h, root
    return float(w.group(1)), float(h.group(1))


@needs_chromium
@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("name", ["consort", "sankey", "generic"])
def test_every_format_opens_at_the_requested_size(figures, prov, name, size):
    fig = figures[name]
    geo = geometry(fig, size, prov)
    assert geo.width_mm == SIZES[size].width_mm
    if SIZES[size].height_mm:
        assert geo.height_mm == SIZES[size].height_mm
    png = figure_bytes(fig, "png", size, prov)
    want_w = SIZES[size].width_mm / 25.4 * 300
    w, h = png_size(png)
    assert abs(w - want_w) <= 1, (w, want_w)
    assert abs(h - geo.height_mm / 25.4 * 300) <= 1.5
    assert png_dpi(png) == pytest.approx(300, abs=0.01)
    svg = figure_bytes(fig, "svg", size, prov)
    assert svg.lstrip().startswith(b"<svg")
    assert _svg_size_mm(svg) == pytest.approx((geo.width_mm, geo.height_mm), abs=0.01)
    pdf = figure_bytes(fig, "pdf", size, prov)
    assert pdf.startswith(b"%PDF")
    pw, ph = _mediabox(pdf)
    assert pw == pytest.approx(geo.width_mm / 25.4 * 72, abs=1.0)
    assert ph == pytest.approx(geo.height_mm / 25.4 * 72, abs=1.0)


def test_every_size_is_laid_out_on_its_own_canvas(figures, prov):
    # a wide screen diagram is drawn again for the column, not laid out wide and scaled
    # down (that made CONSORT text 2.4 pt at single column)
    wide = geometry(figures["consort"], "single", prov)
    assert wide.layout_width == SIZES["single"].layout_width and wide.width_mm == 85.0
    assert geometry(figures["consort"], "double", prov).layout_width == SIZES["double"].layout_width


@needs_chromium
def test_journal_formats_tiff_eps_dpi_and_footer_options(figures, prov):
    from PIL import Image

    fig = figures["generic"]
    geo = geometry(fig, "single", prov)
    png = figure_bytes(fig, "png", "single", prov, dpi=600)
    assert png_dpi(png) == pytest.approx(600, abs=0.01)
    assert abs(png_size(png)[0] - geo.pixels(600)[0]) <= 1
    tiff = figure_bytes(fig, "tiff", "single", prov, dpi=1200)
    with Image.open(io.BytesIO(tiff)) as im:
        assert im.format == "TIFF" and im.info.get("compression") == "tiff_lzw"
        assert round(im.info["dpi"][0]) == 1200 and abs(im.size[0] - geo.pixels(1200)[0]) <= 1
    eps = figure_bytes(fig, "eps", "single", prov)
    assert eps.startswith(b"%!PS-Adobe") and b"EPSF" in eps[:40]
    bbox = re.search(rb"%%BoundingBox: (\d+) (\d+) (\d+) (\d+)", eps)
    assert bbox and abs(int(bbox.group(3)) - int(bbox.group(1)) - geo.points()[0]) <= 2
    off = geometry(fig, "single", prov, footer="off")
    assert off.footer_height == 0 and off.height_mm < geo.height_mm
    svg = figure_bytes(fig, "svg", "single", prov, footer="caption").decode()
    assert "SYNTHETIC DATA" not in re.sub(r"<style>.*?</style>", "", svg, flags=re.S)
    from dashboard.figures.export import caption_text

    assert "SYNTHETIC DATA" in caption_text(prov, title="OS") and prov.content_hash[:12] in caption_text(prov)
    with pytest.raises(ValueError):
        figure_bytes(fig, "png", "single", prov, dpi=72)
    with pytest.raises(ValueError):
        figure_bytes(fig, "png", "single", prov, footer="inside")


@needs_chromium
def test_fonts_are_embedded(figures, prov):
    pdf = figure_bytes(figures["generic"], "pdf", "single", prov)
    assert b"LiberationSans" in pdf and b"/FontFile2" in pdf
    svg = figure_bytes(figures["generic"], "svg", "single", prov).decode()
    assert "@font-face{font-family:'Liberation Sans'" in svg and "base64," in svg


@needs_chromium
def test_svg_footer_states_the_provenance(figures, prov):
    svg = figure_bytes(figures["generic"], "svg", "double", prov).decode()
    text = re.sub(r"<[^>]+>", "", svg)
    assert "SYNTHETIC DATA" in text
    assert prov.content_hash[:12] in text
    assert "Tumour site: Rectum" in text and "Age 30-80 years" in text
    assert f"N = {prov.n:,}" in text
    assert f"v{prov.app_version}" in text and prov.exported_at in text


@needs_chromium
def test_presentation_export_is_larger_type(figures, prov):
    normal = figure_bytes(figures["generic"], "svg", "slide", prov)
    big = figure_bytes(figures["generic"], "svg", "slide", prov, presentation=True)
    sizes = lambda svg: max(float(x) for x in re.findall(rb"font-size: ?([\d.]+)px", svg))  # noqa: E731
    assert sizes(big) > sizes(normal)


def test_bad_arguments_are_refused(figures, prov):
    with pytest.raises(ValueError):
        figure_bytes(figures["generic"], "jpg", "double", prov)
    with pytest.raises(ValueError):
        figure_bytes(figures["generic"], "png", "poster", prov)
    with pytest.raises(ValueError):
        table_bytes(pl.DataFrame({"a": [1]}), "docx", "t", prov)


# ------------------------------------------------------------------------ tables
TABLE = pl.DataFrame({"Site": ["Rectum", "Colon", "Gastric", "GOJ", "Other"], "Patients": [120, 3, 0, 5, 1],
                      "%": [93.0, 2.3, 0.0, 3.9, 0.8]})


def test_csv_round_trip_with_footer(prov):
    data = table_bytes(TABLE, "csv", "Patients by site", prov)
    back = pl.read_csv(io.BytesIO(data), comment_prefix="#")
    assert back.equals(TABLE)
    comments = [x for x in data.decode().splitlines() if x.startswith("#")]
    assert comments[0] == "# Patients by site"
    assert any("SYNTHETIC DATA" in c and prov.content_hash[:12] in c for c in comments)
    assert any("Tumour site: Rectum" in c and f"N = {prov.n:,}" in c for c in comments)


def test_xlsx_round_trip_with_provenance_sheet(prov):
    import openpyxl

    wb = openpyxl.load_workbook(io.BytesIO(table_bytes(TABLE, "xlsx", "Patients by site", prov)))
    assert wb.sheetnames == ["table", "provenance"]
    rows = list(wb["table"].iter_rows(values_only=True))
    assert rows[0][0] == "Patients by site"  # the title on the sheet, the header two rows down
    assert list(rows[2]) == TABLE.columns
    assert [list(r) for r in rows[3: TABLE.height + 3]] == [list(r) for r in TABLE.iter_rows()]
    assert wb["table"].freeze_panes == "B4"
    footer = " ".join(str(r[0]) for r in rows[TABLE.height + 3:] if r[0])
    assert "SYNTHETIC DATA" in footer and prov.content_hash[:12] in footer
    meta = {r[0]: r[1] for r in wb["provenance"].iter_rows(values_only=True)}
    assert meta["content_hash"] == prov.content_hash and meta["title"] == "Patients by site"
    assert meta["n"] == str(prov.n) and "Rectum" in meta["filters"]


def test_xlsx_never_writes_formulas(prov):
    import openpyxl

    df = pl.DataFrame({"x": ["=1+1", "@SUM(A1)", "+cmd"]})
    ws = openpyxl.load_workbook(io.BytesIO(table_bytes(df, "xlsx", "t", prov)))["table"]
    assert [c.data_type for c in ws["A"][3:6]] == ["s", "s", "s"]


def test_html_has_title_footer_and_no_external_resource(prov):
    page = table_bytes(TABLE, "html", "Patients by site", prov, suppress_below=5).decode()
    assert "Patients by site" in page and "SYNTHETIC DATA" in page and prov.content_hash[:12] in page
    assert "Small-cell suppression" in page and "&lt;5" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?https?://""", page)


@needs_chromium
def test_png_table_opens_at_300_dpi(prov):
    png = table_bytes(TABLE, "png", "Patients by site", prov)
    w, h = png_size(png)
    assert w > 600 and h > 200
    assert png_dpi(png) == pytest.approx(300, abs=0.01)


# ------------------------------------------------------------------------ suppression
def test_suppression_hides_1_to_4_only():
    out = suppress_small_cells(TABLE)
    assert out["Patients"].to_list() == ["120", "<5", "0", "5", "<5"]
    assert out["%"].to_list() == [93.0, None, 0.0, 3.9, None]
    assert out["Site"].to_list() == TABLE["Site"].to_list()


def test_suppression_of_n_pct_cells_and_threshold():
    t1 = pl.DataFrame({"Characteristic": ["Sex, n (%)", "Female", "Male", "Age, median (IQR)", "Missing"],
                       "Overall (n=10)": ["", "3 (30.0%)", "7 (70.0%)", "3.0 (1.0-5.0)", "2"],
                       "p-value": ["0.041", "", "", "<0.001", ""]})
    out = suppress_small_cells(t1)
    assert out["Overall (n=10)"].to_list() == ["", "<5", "7 (70.0%)", "3.0 (1.0-5.0)", "<5"]
    assert out["p-value"].to_list() == t1["p-value"].to_list()
    assert suppress_small_cells(t1, 10)["Overall (n=10)"].to_list()[2] == "<10"


def test_suppression_reads_counts_with_thousands_separators():
    # registry-scale tables write "1,204 (5.0%)": still a count cell, left alone; "3 (0.1%)" hidden
    t = pl.DataFrame({"Events": ["1,204 (5.0%)", "3 (0.1%)", "0", "12,000"], "Median": ["1.0 (0-2)"] * 4})
    out = suppress_small_cells(t)
    assert out["Events"].to_list() == ["1,204 (5.0%)", "<5", "0", "12,000"]
    assert out["Median"].to_list() == t["Median"].to_list()
    # the separator is read, not mistaken for the end of the number
    assert suppress_small_cells(t, 2000)["Events"].to_list() == ["<2000", "<2000", "0", "12,000"]


def test_suppression_explicit_columns_and_percent_pairs():
    df = pl.DataFrame({"g": ["a", "b"], "n_ae": [2, 9], "pct_ae": [20.0, 90.0], "n_sae": [0, 4], "pct_sae": [0.0, 40.0]})
    out = suppress_small_cells(df, 5, ["n_ae", "n_sae"], percent_of={"pct_ae": "n_ae", "pct_sae": "n_sae"})
    assert out["n_ae"].to_list() == ["<5", "9"] and out["pct_ae"].to_list() == [None, 90.0]
    assert out["n_sae"].to_list() == ["0", "<5"] and out["pct_sae"].to_list() == [0.0, None]
    with pytest.raises(ValueError):
        suppress_small_cells(df, 5, ["nope"])
    with pytest.raises(ValueError):
        suppress_small_cells(df, 1)


def test_suppressed_exports_say_so(prov):
    data = table_bytes(TABLE, "csv", "t", prov, suppress_below=5).decode()
    assert "Colon,<5,\n" in data and "# Small-cell suppression" in data


def test_mask_identifiers():
    df = pl.DataFrame({"subject_id": ["NOR-0012", "NOR-0007", "NOR-0012"], "x": [1, 2, 3]})
    out = mask_identifiers(df)
    assert out["subject_id"].to_list() == ["Patient 1", "Patient 2", "Patient 1"]
    assert "NOR-" not in str(out.to_dicts())
