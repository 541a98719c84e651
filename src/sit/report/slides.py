"""``slides.pptx``: a deck to edit, not to build: title, pipeline, one slide per step, results, conclusions.

Every shape is placed inside the slide, with text sized to its box (PowerPoint grows a table row or a
text box to its text, so what does not fit is cut here, and the report holds it in full). A toy deck
carries the toy-world banner on every slide. Every slide keeps the source of its numbers in its
speaker notes.
"""

from __future__ import annotations

import io
import math

from .document import Report, Slide, Table, plain

WIDTH, HEIGHT = 13.333, 7.5  # inches (16:9)
MARGIN = 0.5
TOP = 1.35  # below the title
BOTTOM = 6.75  # above the banner
BANNER_TOP = 6.92
MAX_TABLE_COLUMNS = 8
CELL_MARGIN_X, CELL_MARGIN_Y = 0.1, 0.05  # python-pptx's default cell margins, inches
MAX_CELL_LINES = 2
POINT = 1 / 72
CHAR_WIDTH = 0.52  # average glyph width of the default font, in ems


def banner_text(report: Report) -> str:
    return f"TOY WORLD {report.world}: these numbers test the code path only, not the models"


def render(report: Report) -> bytes:
    from pptx import Presentation
    from pptx.util import Inches, Pt

    deck = Presentation()
    deck.slide_width, deck.slide_height = Inches(WIDTH), Inches(HEIGHT)
    title = deck.slides.add_slide(deck.slide_layouts[0])
    # The default template is laid out for 4:3: stretch its placeholders across the 16:9 slide.
    _place(title.shapes.title, Inches(0.8), Inches(1.8), Inches(11.7), Inches(1.6))
    _place(title.placeholders[1], Inches(0.8), Inches(3.6), Inches(11.7), Inches(2.2))
    title.shapes.title.text = report.title
    title.placeholders[1].text = plain(report.subtitle)
    for paragraph in title.placeholders[1].text_frame.paragraphs:
        paragraph.font.size = Pt(16)
    title.notes_slide.notes_text_frame.text = "Sources: " + ", ".join(report.sources)
    if report.toy:
        _banner(title, banner_text(report), Inches, Pt)
    for section in report.sections:
        for slide in section.slides:
            made = _slide(deck, slide, Inches, Pt)
            if report.toy:
                _banner(made, banner_text(report), Inches, Pt)
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def _slide(deck, content: Slide, Inches, Pt):
    slide = deck.slides.add_slide(deck.slide_layouts[5])  # title only
    _place(slide.shapes.title, Inches(MARGIN), Inches(0.3), Inches(WIDTH - 2 * MARGIN), Inches(0.95))
    slide.shapes.title.text = content.title
    slide.shapes.title.text_frame.paragraphs[0].font.size = Pt(28)
    visual = content.figure is not None or content.table is not None
    if content.bullets:
        width = 4.4 if visual else WIDTH - 2 * MARGIN
        _bullets(slide, content.bullets, MARGIN, width, Inches, Pt, size=15 if visual else 18)
    left = MARGIN + 4.6 if content.bullets else MARGIN
    width = WIDTH - MARGIN - left
    if content.figure is not None:
        _picture(slide, content.figure.png, Inches(left), Inches(TOP), Inches(width), Inches(BOTTOM - TOP))
    elif content.table is not None:
        _table(slide, content.table, left, width, Inches, Pt)
    slide.notes_slide.notes_text_frame.text = content.notes or ""
    return slide


def _place(shape, left, top, width, height) -> None:
    shape.left, shape.top, shape.width, shape.height = left, top, width, height


def lines_needed(text: str, width_in: float, size_pt: float) -> int:
    """Lines a text wraps to in a box ``width_in`` wide (an estimate from the average glyph width)."""
    per_line = max(1, int(width_in / (size_pt * POINT * CHAR_WIDTH)))
    return max(1, sum(math.ceil(max(1, len(part)) / per_line) for part in text.split("\n")))


def _clip(text: str, width_in: float, size_pt: float, lines: int) -> str:
    per_line = max(1, int(width_in / (size_pt * POINT * CHAR_WIDTH)))
    limit = per_line * lines
    return text if len(text) <= limit else text[: max(1, limit - 1)].rstrip() + "…"


def _bullets(slide, bullets: list[str], left: float, width: float, Inches, Pt, size: int) -> None:
    """Bullets in a box that fits between title and banner: smaller type first, then fewer bullets."""
    height = BOTTOM - TOP
    texts = ["• " + plain(b) for b in bullets]
    inner = width - 0.2  # the text box's own margins

    def needed(items, pt):
        return sum(lines_needed(t, inner, pt) * pt * 1.2 * POINT + 8 * POINT for t in items)

    while size > 12 and needed(texts, size) > height:
        size -= 1
    while len(texts) > 1 and needed(texts, size) > height:
        texts.pop()
    texts = [_clip(t, inner, size, int(height / (size * 1.2 * POINT)) - 1) for t in texts]
    box = slide.shapes.add_textbox(Inches(left), Inches(TOP), Inches(width), Inches(height))
    frame = box.text_frame
    frame.word_wrap = True
    for i, text in enumerate(texts):
        paragraph = frame.paragraphs[0] if i == 0 else frame.add_paragraph()
        paragraph.text = text
        paragraph.font.size = Pt(size)
        paragraph.space_after = Pt(8)


def _banner(slide, text: str, Inches, Pt) -> None:
    from pptx.dml.color import RGBColor

    box = slide.shapes.add_textbox(Inches(MARGIN), Inches(BANNER_TOP), Inches(WIDTH - 2 * MARGIN), Inches(0.42))
    box.fill.solid()
    box.fill.fore_color.rgb = RGBColor(0xFF, 0xF0, 0xDB)
    frame = box.text_frame
    frame.word_wrap = True
    frame.paragraphs[0].text = text
    frame.paragraphs[0].font.size = Pt(13)
    frame.paragraphs[0].font.bold = True
    frame.paragraphs[0].font.color.rgb = RGBColor(0xB2, 0x22, 0x22)


def _picture(slide, png: bytes, left, top, width, height) -> None:
    from PIL import Image

    w_px, h_px = Image.open(io.BytesIO(png)).size
    scale = min(width / w_px, height / h_px)
    slide.shapes.add_picture(io.BytesIO(png), left + int((width - w_px * scale) / 2), top,
                             width=int(w_px * scale), height=int(h_px * scale))


def _column_widths(table: Table, columns: int, width: float, size: float) -> list[float]:
    """Inches per column: first room for each column's longest word (so no word breaks), then the rest of
    the width in proportion to each column's longest text."""
    texts = [[plain(str(c)) for c in column] for column in zip(*[r[:columns] for r in [table.columns, *table.rows]],
                                                               strict=True)]
    em = size * POINT * CHAR_WIDTH
    least = [2 * CELL_MARGIN_X + em * min(16, max(len(w) for t in col for w in (t.split() or [""]))) for col in texts]
    if sum(least) >= width:
        return [width * lo / sum(least) for lo in least]
    wants = [max(1, min(40, max(len(t) for t in col))) for col in texts]
    spare = width - sum(least)
    return [lo + spare * w / sum(wants) for lo, w in zip(least, wants, strict=True)]


def _table(slide, table: Table, left: float, width: float, Inches, Pt) -> None:
    """The table at a type size whose rows fit the slide; rows that do not fit are named, not drawn."""
    columns = min(len(table.columns), MAX_TABLE_COLUMNS)
    height = BOTTOM - TOP
    for size in (12, 11, 10, 9):
        widths = _column_widths(table, columns, width, size)
        heights = [_row_height([plain(str(c)) for c in row[:columns]], widths, size)
                   for row in [table.columns, *table.rows]]
        if sum(heights) <= height:
            break
    more_row = _row_height(["x"], [width], size)
    shown, used = 0, heights[0]
    for h in heights[1:]:
        rest = len(table.rows) - shown - 1
        if used + h + (more_row if rest else 0) > height:
            break
        used, shown = used + h, shown + 1
    extra = len(table.rows) - shown
    rows = [table.columns[:columns], *[r[:columns] for r in table.rows[:shown]]]
    heights = heights[: shown + 1] + ([more_row] if extra else [])
    shape = slide.shapes.add_table(len(heights), columns, Inches(left), Inches(TOP), Inches(width),
                                   Inches(sum(heights)))
    grid = shape.table
    for j, w in enumerate(widths):
        grid.columns[j].width = Inches(w)
    for i, h in enumerate(heights):
        grid.rows[i].height = Inches(h)
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            grid.cell(i, j).text = _clip(plain(str(value)), widths[j] - 2 * CELL_MARGIN_X, size, MAX_CELL_LINES)
    if extra:
        grid.cell(len(heights) - 1, 0).merge(grid.cell(len(heights) - 1, columns - 1))
        grid.cell(len(heights) - 1, 0).text = f"… {extra} more row{'s' if extra > 1 else ''} in the report"
    for row in grid.rows:
        for cell in row.cells:
            for paragraph in cell.text_frame.paragraphs:
                paragraph.font.size = Pt(size)
    # the shape's frame is the sum of its columns and rows, so it ends where the table ends
    shape.width, shape.height = Inches(sum(widths)), Inches(sum(heights))


def _row_height(cells: list[str], widths: list[float], size: float) -> float:
    lines = max(min(MAX_CELL_LINES, lines_needed(c, w - 2 * CELL_MARGIN_X, size)) for c, w in zip(cells, widths,
                                                                                                 strict=False))
    return 2 * CELL_MARGIN_Y + lines * size * 1.2 * POINT
