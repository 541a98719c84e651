"""``slides.pptx``: a deck to edit and to talk over: the slides :mod:`.talk` composes, drawn at a size one reads.

Every shape is placed inside the slide. No text is smaller than 12 pt: a table or a list that does not
fit one slide goes on to the next (a table repeats its header), instead of shrinking or being cut. Every
run of text carries its own size, so no renderer falls back to a template default. A toy deck carries the
toy-world banner on every slide. The speaker notes hold talking points, then the sources of the numbers.
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
MAX_CELL_LINES = 3
POINT = 1 / 72
CHAR_WIDTH = 0.52  # average glyph width of the default font, in ems
MIN_PT = 12  # nothing on a slide is smaller: what does not fit goes on to the next slide
TABLE_PT = 12
TITLE_PT, LONG_TITLE_PT = 28, 22  # a takeaway sentence wraps to two lines at the smaller size
CONTINUED = " (continued)"


def banner_text(report: Report) -> str:
    return f"TOY WORLD {report.world}: these numbers test the code path only, not the models"


def render(report: Report, deck_slides: list[Slide] | None = None) -> bytes:
    """The deck: a title slide, then ``deck_slides`` (default: every section's slides, in order)."""
    from pptx import Presentation
    from pptx.util import Inches, Pt

    contents = deck_slides if deck_slides is not None else [s for sec in report.sections for s in sec.slides]
    deck = Presentation()
    deck.slide_width, deck.slide_height = Inches(WIDTH), Inches(HEIGHT)
    title = deck.slides.add_slide(deck.slide_layouts[0])
    # The default template is laid out for 4:3: stretch its placeholders across the 16:9 slide.
    _place(title.shapes.title, Inches(0.8), Inches(1.8), Inches(11.7), Inches(1.6))
    _place(title.placeholders[1], Inches(0.8), Inches(3.6), Inches(11.7), Inches(2.2))
    _set_text(title.shapes.title.text_frame, [report.title], 40, Pt)
    _set_text(title.placeholders[1].text_frame, [plain(report.byline), plain(report.subtitle)], 16, Pt, 6)
    title.notes_slide.notes_text_frame.text = "Sources: " + ", ".join(report.sources)
    if report.toy:
        _banner(title, banner_text(report), Inches, Pt)
    for content in contents:
        for page in paginate(content):
            made = _slide(deck, page, Inches, Pt)
            if report.toy:
                _banner(made, banner_text(report), Inches, Pt)
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def _set_text(frame, paragraphs: list[str], size: float, Pt, space_after: float = 0) -> None:
    """``paragraphs`` into ``frame``, each run sized ``size`` (explicitly: no template default applies)."""
    frame.word_wrap = True
    for i, text in enumerate(paragraphs):
        paragraph = frame.paragraphs[0] if i == 0 else frame.add_paragraph()
        paragraph.text = text
        paragraph.font.size = Pt(size)
        for run in paragraph.runs:
            run.font.size = Pt(size)
        if space_after:
            paragraph.space_after = Pt(space_after)


def title_size(title: str) -> int:
    return TITLE_PT if lines_needed(title, WIDTH - 2 * MARGIN - 0.2, TITLE_PT) <= 1 else LONG_TITLE_PT


def _slide(deck, content: Slide, Inches, Pt):
    slide = deck.slides.add_slide(deck.slide_layouts[5])  # title only
    _place(slide.shapes.title, Inches(MARGIN), Inches(0.3), Inches(WIDTH - 2 * MARGIN), Inches(0.95))
    _set_text(slide.shapes.title.text_frame, [content.title], title_size(content.title), Pt)
    visual = content.figure is not None or content.table is not None
    if content.bullets:
        width = BULLETS_BESIDE if visual else WIDTH - 2 * MARGIN
        box = slide.shapes.add_textbox(Inches(MARGIN), Inches(TOP), Inches(width), Inches(BOTTOM - TOP))
        _set_text(box.text_frame, ["• " + plain(b) for b in content.bullets], bullet_size(visual), Pt, 8)
    left = MARGIN + BULLETS_BESIDE + 0.2 if content.bullets else MARGIN
    width = WIDTH - MARGIN - left
    if content.figure is not None:
        _picture(slide, content.figure.png, Inches(left), Inches(TOP), Inches(width), Inches(BOTTOM - TOP))
    elif content.table is not None:
        _table(slide, content.table, left, width, Inches, Pt)
    slide.notes_slide.notes_text_frame.text = content.notes or ""
    return slide


BULLETS_BESIDE = 4.4  # inches: the bullet column beside a chart or a table


def bullet_size(visual: bool) -> int:
    return 15 if visual else 18


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


def paginate(content: Slide) -> list[Slide]:
    """``content`` as one slide, or as several when its bullets or table rows do not fit one at a readable
    size: every page keeps the title (marked continued), the figure, and the table's header row."""
    visual = content.figure is not None or content.table is not None
    size = bullet_size(visual)
    inner = (BULLETS_BESIDE if visual else WIDTH - 2 * MARGIN) - 0.2  # the text box's own margins
    bullet_pages, page, used = [], [], 0.0
    for bullet in content.bullets:
        height = lines_needed("• " + plain(bullet), inner, size) * size * 1.2 * POINT + 8 * POINT
        if page and used + height > BOTTOM - TOP:
            bullet_pages.append(page)
            page, used = [], 0.0
        page.append(bullet)
        used += height
    bullet_pages.append(page)
    table_pages = [content.table]
    if content.table is not None:
        left = MARGIN + BULLETS_BESIDE + 0.2 if content.bullets else MARGIN
        table_pages = split_table(content.table, WIDTH - MARGIN - left)
    count = max(len(bullet_pages), len(table_pages))
    pages = []
    for k in range(count):
        bullets = bullet_pages[k] if k < len(bullet_pages) else []
        table = table_pages[k] if k < len(table_pages) else None
        figure = content.figure if k == 0 or bullets else None
        pages.append(Slide(content.title + (CONTINUED if k else ""), bullets, figure=figure, table=table,
                           notes=content.notes))
    return pages


def split_table(table: Table, width: float, room: float = BOTTOM - TOP) -> list[Table]:
    """The table's rows in parts ``room`` inches high at :data:`TABLE_PT`, each with the header row."""
    columns = min(len(table.columns), MAX_TABLE_COLUMNS)
    widths = _column_widths(table, columns, width, TABLE_PT)
    header = _row_height([plain(str(c)) for c in table.columns[:columns]], widths, TABLE_PT)
    parts, rows, used = [], [], header
    for row in table.rows:
        height = _row_height([plain(str(c)) for c in row[:columns]], widths, TABLE_PT)
        if rows and used + height > room:
            parts.append(rows)
            rows, used = [], header
        rows.append(row)
        used += height
    parts.append(rows)
    return [Table(table.columns, part, table.source, table.caption) for part in parts]


def _banner(slide, text: str, Inches, Pt) -> None:
    from pptx.dml.color import RGBColor

    box = slide.shapes.add_textbox(Inches(MARGIN), Inches(BANNER_TOP), Inches(WIDTH - 2 * MARGIN), Inches(0.42))
    box.fill.solid()
    box.fill.fore_color.rgb = RGBColor(0xFF, 0xF0, 0xDB)
    _set_text(box.text_frame, [text], 13, Pt)
    for run in box.text_frame.paragraphs[0].runs:
        run.font.bold = True
        run.font.color.rgb = RGBColor(0xB2, 0x22, 0x22)


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
    """The table at :data:`TABLE_PT` (``paginate`` has already cut it to rows that fit the slide)."""
    columns = min(len(table.columns), MAX_TABLE_COLUMNS)
    size = TABLE_PT
    widths = _column_widths(table, columns, width, size)
    rows = [table.columns[:columns], *[r[:columns] for r in table.rows]]
    heights = [_row_height([plain(str(c)) for c in row], widths, size) for row in rows]
    shape = slide.shapes.add_table(len(heights), columns, Inches(left), Inches(TOP), Inches(width),
                                   Inches(sum(heights)))
    grid = shape.table
    for j, w in enumerate(widths):
        grid.columns[j].width = Inches(w)
    for i, h in enumerate(heights):
        grid.rows[i].height = Inches(h)
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            text = _clip(plain(str(value)), widths[j] - 2 * CELL_MARGIN_X, size, MAX_CELL_LINES)
            _set_text(grid.cell(i, j).text_frame, [text], size, Pt)
    # the shape's frame is the sum of its columns and rows, so it ends where the table ends
    shape.width, shape.height = Inches(sum(widths)), Inches(sum(heights))


def _row_height(cells: list[str], widths: list[float], size: float) -> float:
    lines = max(min(MAX_CELL_LINES, lines_needed(c, w - 2 * CELL_MARGIN_X, size)) for c, w in zip(cells, widths,
                                                                                                 strict=False))
    return 2 * CELL_MARGIN_Y + lines * size * 1.2 * POINT
