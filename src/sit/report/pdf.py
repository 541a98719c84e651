"""``report.pdf``: the same report laid out with fpdf2.

fpdf2 is pure Python (its dependencies, Pillow, fontTools and defusedxml, are too), so ``pip install`` is
all Colab needs. WeasyPrint would render the HTML itself, but it needs the Pango system library, which
pip cannot install. Text uses the DejaVu fonts that ship inside matplotlib, for Unicode beyond Latin-1.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from .document import Bullets, Callout, Figure, Report, Table, Text, plain

MAX_IMAGE_HEIGHT = 72  # mm: a figure never takes more than about a third of a page
MAX_IMAGE_WIDTH = 0.85  # of the text width
MAX_GRID_HEIGHT = 125  # mm: a grid of small charts needs more room to stay readable
CALLOUT_COLORS = {"warning": (255, 240, 219), "missing": (238, 241, 244), "note": (231, 242, 250)}
_CODE = re.compile(r"`([^`]+)`")


def _fonts() -> dict[str, Path]:
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return {"": folder / "DejaVuSans.ttf", "B": folder / "DejaVuSans-Bold.ttf", "I": folder / "DejaVuSans-Oblique.ttf",
            "BI": folder / "DejaVuSans-BoldOblique.ttf"}


def markup(text: str) -> str:
    """The document's inline markup as fpdf2 markdown: bold and links stay, code loses its backticks,
    and fpdf2's other markers (``__``, ``--``, ``~~``) are escaped so they print as typed."""
    text = re.sub(r"(__|--|~~)", r"\\\1", str(text))
    return _CODE.sub(r"\1", text)


def _widths(pdf, table: Table) -> list[float]:
    """Column widths (mm) in which no single word has to break: each column gets at least its longest word
    (headings are bold, so a little wider), and the rest of the page width goes to the columns whose full
    texts are longer than that."""
    pad = 2.5

    def width(text: str, heading: bool) -> float:
        return pdf.get_string_width(text) * (1.12 if heading else 1.0)

    cells = [[(plain(str(c)), i == 0) for i, c in enumerate(column)] for column in zip(table.columns, *table.rows,
                                                                                       strict=True)]
    least = [max(width(word, head) for text, head in column for word in (text.split() or [""])) + pad
             for column in cells]
    wanted = [max(width(text, head) for text, head in column) + pad for column in cells]
    if sum(wanted) <= pdf.epw:
        return [w * pdf.epw / sum(wanted) for w in wanted]
    spare = max(0.0, pdf.epw - sum(least))
    extra = [w - m for w, m in zip(wanted, least, strict=True)]
    return [m + spare * e / (sum(extra) or 1) for m, e in zip(least, extra, strict=True)]


def render(report: Report) -> bytes:
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    class Document(FPDF):
        def footer(self):
            self.set_y(-12)
            self.set_font("DejaVu", size=7)
            self.set_text_color(120, 130, 140)
            tag = f"world {report.world}" + (" · toy world: numbers test the code path only" if report.toy else "")
            self.cell(0, 6, f"{report.title} · {tag} · page {self.page_no()}", align="C")
            self.set_text_color(0, 0, 0)

    pdf = Document(format="A4")
    pdf.set_auto_page_break(True, margin=16)
    for style, path in _fonts().items():
        pdf.add_font("DejaVu", style, str(path))
    pdf.set_title(report.title)
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 20)
    pdf.multi_cell(0, 10, report.title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "B", 11)
    pdf.multi_cell(0, 6, markup(report.byline), markdown=True, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 10)
    pdf.set_text_color(80, 95, 110)
    pdf.multi_cell(0, 5, markup(report.subtitle), markdown=True, new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    for section in report.sections:
        _section(pdf, section, FontFace)
    pdf.set_font("DejaVu", "B", 14)
    pdf.ln(4)
    pdf.multi_cell(0, 8, "Sources", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 8)
    # Every table and chart names its files beside it; the full list would cost a page of the 15.
    pdf.multi_cell(0, 4, f"{len(report.sources)} files of the workspace, each named beside the table or chart it "
                   "feeds; the full list is in report.md and report_files/manifest.json.",
                   new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _section(pdf, section, FontFace) -> None:
    if pdf.get_y() > pdf.h * 0.8:  # a heading never sits alone at the foot of a page
        pdf.add_page()
    pdf.ln(4)
    pdf.set_font("DejaVu", "B", 14)
    pdf.set_text_color(31, 59, 92)
    pdf.multi_cell(0, 8, section.title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    for block in section.blocks:
        pdf.set_font("DejaVu", "", 9.5)
        if isinstance(block, Text):
            pdf.multi_cell(0, 5, markup(block.text), markdown=True, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1.5)
        elif isinstance(block, Bullets):
            for item in block.items:
                pdf.multi_cell(0, 5, "•  " + markup(item), markdown=True, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1.5)
        elif isinstance(block, Callout):
            pdf.set_fill_color(*CALLOUT_COLORS.get(block.kind, CALLOUT_COLORS["note"]))
            pdf.multi_cell(0, 5.5, markup(block.text), markdown=True, fill=True, padding=2.5,
                           new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
        elif isinstance(block, Table):
            _table(pdf, block, FontFace)
        elif isinstance(block, Figure):
            _figure(pdf, block)


def _small(pdf, text: str, style: str = "I") -> None:
    pdf.set_font("DejaVu", style, 7.5)
    pdf.set_text_color(90, 105, 120)
    pdf.multi_cell(0, 4, markup(text), markdown=True, align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)


def _table(pdf, table: Table, FontFace) -> None:
    size = 8 if len(table.columns) <= 5 else 7
    pdf.set_font("DejaVu", "", size)
    heading = FontFace(emphasis="BOLD", fill_color=(230, 237, 244))
    with pdf.table(col_widths=_widths(pdf, table), width=pdf.epw, text_align="LEFT", line_height=size * 0.5,
                   headings_style=heading, padding=1, cell_fill_color=(246, 249, 251), cell_fill_mode="ROWS") as grid:
        header = grid.row()
        for column in table.columns:
            header.cell(plain(column))
        for values in table.rows:
            row = grid.row()
            for value in values:
                row.cell(plain(str(value)))
    if table.caption:
        _small(pdf, table.caption)
    _small(pdf, table.source, "")
    pdf.ln(2)


def _figure(pdf, figure: Figure) -> None:
    from PIL import Image

    width_px, height_px = Image.open(io.BytesIO(figure.png)).size
    tallest = MAX_GRID_HEIGHT if figure.grid else MAX_IMAGE_HEIGHT
    width = min(pdf.epw * MAX_IMAGE_WIDTH, tallest * width_px / height_px)
    height = width * height_px / width_px
    room = pdf.page_break_trigger - pdf.get_y() - 12  # the caption and source lines below it
    if height > room:
        if room >= 0.6 * height:  # a little smaller rather than half a page left empty
            width, height = width * room / height, room
        else:
            pdf.add_page()
    pdf.image(io.BytesIO(figure.png), x=pdf.l_margin + (pdf.epw - width) / 2, w=width)
    _small(pdf, figure.caption)
    _small(pdf, figure.source, "")
    pdf.ln(2)
