"""``slides.pptx``: a deck to edit, not to build: title, pipeline, one slide per step, results, conclusions.

Every slide keeps the source of its numbers in its speaker notes.
"""

from __future__ import annotations

import io

from .document import Report, Slide, Table, plain

MAX_TABLE_ROWS = 12
MAX_TABLE_COLUMNS = 7


def render(report: Report) -> bytes:
    from pptx import Presentation
    from pptx.util import Inches, Pt

    deck = Presentation()
    deck.slide_width, deck.slide_height = Inches(13.333), Inches(7.5)
    title = deck.slides.add_slide(deck.slide_layouts[0])
    # The default template is laid out for 4:3: stretch its placeholders across the 16:9 slide.
    _place(title.shapes.title, Inches(0.8), Inches(2.0), Inches(11.7), Inches(1.6))
    _place(title.placeholders[1], Inches(0.8), Inches(3.8), Inches(11.7), Inches(2.2))
    title.shapes.title.text = report.title
    subtitle = f"{plain(report.subtitle)}"
    if report.toy:
        subtitle += "\nToy world: the numbers test the code path only."
    title.placeholders[1].text = subtitle
    for paragraph in title.placeholders[1].text_frame.paragraphs:
        paragraph.font.size = Pt(16)
    title.notes_slide.notes_text_frame.text = "Sources: " + ", ".join(report.sources)
    for section in report.sections:
        for slide in section.slides:
            _slide(deck, slide, Inches, Pt)
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def _slide(deck, content: Slide, Inches, Pt) -> None:
    slide = deck.slides.add_slide(deck.slide_layouts[5])  # title only
    _place(slide.shapes.title, Inches(0.6), Inches(0.35), Inches(12.1), Inches(1.0))
    slide.shapes.title.text = content.title
    slide.shapes.title.text_frame.paragraphs[0].font.size = Pt(30)
    visual = content.figure is not None or content.table is not None
    if content.bullets:
        width = Inches(4.6) if visual else Inches(12.0)
        box = slide.shapes.add_textbox(Inches(0.6), Inches(1.6), width, Inches(5.4))
        frame = box.text_frame
        frame.word_wrap = True
        for i, bullet in enumerate(content.bullets):
            paragraph = frame.paragraphs[0] if i == 0 else frame.add_paragraph()
            paragraph.text = "• " + plain(bullet)
            paragraph.font.size = Pt(15 if visual else 18)
            paragraph.space_after = Pt(8)
    left = Inches(5.4) if content.bullets else Inches(0.6)
    width = Inches(13.333 - 0.5) - left
    if content.figure is not None:
        _picture(slide, content.figure.png, left, Inches(1.5), width, Inches(5.6))
    elif content.table is not None:
        _table(slide, content.table, left, Inches(1.5), width, Pt)
    slide.notes_slide.notes_text_frame.text = content.notes or ""


def _place(shape, left, top, width, height) -> None:
    shape.left, shape.top, shape.width, shape.height = left, top, width, height


def _picture(slide, png: bytes, left, top, width, height) -> None:
    from PIL import Image

    w_px, h_px = Image.open(io.BytesIO(png)).size
    scale = min(width / w_px, height / h_px)
    slide.shapes.add_picture(io.BytesIO(png), left + int((width - w_px * scale) / 2), top,
                             width=int(w_px * scale), height=int(h_px * scale))


def _table(slide, table: Table, left, top, width, Pt) -> None:
    columns = table.columns[:MAX_TABLE_COLUMNS]
    rows = table.rows[:MAX_TABLE_ROWS]
    extra = len(table.rows) - len(rows)
    shape = slide.shapes.add_table(len(rows) + 1 + (1 if extra else 0), len(columns), left, top, width,
                                   Pt(22) * (len(rows) + 1))
    grid = shape.table
    for j, name in enumerate(columns):
        grid.cell(0, j).text = plain(name)
    for i, row in enumerate(rows, start=1):
        for j in range(len(columns)):
            grid.cell(i, j).text = plain(str(row[j]))
    if extra:
        grid.cell(len(rows) + 1, 0).text = f"… {extra} more rows in the report"
    size = Pt(12 if len(columns) <= 3 else 10)
    for row in grid.rows:
        for cell in row.cells:
            for paragraph in cell.text_frame.paragraphs:
                paragraph.font.size = size
