"""The report as data: sections of blocks, rendered alike to Markdown, HTML, PDF and slides.

Text may carry three kinds of inline markup, the same in every output: ``**bold**``, ```code```
and ``[label](url)``. Every table and figure names the artifact its numbers come from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

NOT_RUN = "not run yet"


@dataclass
class Text:
    text: str


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Callout:
    """A boxed remark: ``warning`` (toy world), ``missing`` (a step not run yet) or ``note``."""

    text: str
    kind: str = "note"


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]]
    source: str
    caption: str = ""


@dataclass
class Figure:
    name: str  # file stem, unique in a report
    png: bytes
    caption: str
    source: str
    grid: bool = False  # several small charts in one image: laid out larger


Block = Text | Bullets | Callout | Table | Figure


@dataclass
class Slide:
    """What a section contributes to the deck: a few bullets and at most one figure or table."""

    title: str
    bullets: list[str] = field(default_factory=list)
    figure: Figure | None = None
    table: Table | None = None
    notes: str = ""


@dataclass
class Section:
    key: str
    title: str
    blocks: list[Block] = field(default_factory=list)
    slides: list[Slide] = field(default_factory=list)
    ran: bool = True  # False: the step's artifacts do not exist yet

    def add(self, *blocks: Block) -> Section:
        self.blocks.extend(blocks)
        return self

    @property
    def figures(self) -> list[Figure]:
        return [b for b in self.blocks if isinstance(b, Figure)]


@dataclass
class Report:
    title: str
    subtitle: str
    world: str
    toy: bool
    generated_at: str
    sections: list[Section]
    sources: list[str]  # artifact paths (relative to the workspace) the report read
    author: str = ""  # the title block: set once in the profile's report section
    course: str = ""
    date: str = ""

    @property
    def byline(self) -> str:
        """``Author · Course · Date`` for the title block; a field not set says how to set it."""
        def shown(value: str, key: str) -> str:
            return value or f"set me (`report.{key}`)"
        return " · ".join([shown(self.author, "author"), shown(self.course, "course"), shown(self.date, "date")])

    @property
    def figures(self) -> list[Figure]:
        return [f for s in self.sections for f in s.figures]

    def section(self, key: str) -> Section:
        for section in self.sections:
            if section.key == key:
                return section
        raise KeyError(key)


def missing(section: Section, what: str, how: str) -> Section:
    """Mark a section as not run yet, saying which artifact is missing and what produces it."""
    section.ran = False
    section.add(Callout(f"**{NOT_RUN}**: {what} does not exist yet. {how}", kind="missing"))
    section.slides.append(Slide(section.title, [f"{NOT_RUN}: {what} is missing", how]))
    return section


_LINK = re.compile(r"\[([^\]]+)\]\(([^)]+)\)")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_CODE = re.compile(r"`([^`]+)`")


def plain(text: str) -> str:
    """Inline markup removed (slides, table cells in PDF): links keep their label."""
    return _CODE.sub(r"\1", _BOLD.sub(r"\1", _LINK.sub(r"\1", text)))


def fmt(value, digits: int = 3) -> str:
    """One number format for every output (tests compare against the artifacts with it)."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if number != number:  # NaN
        return "–"
    if number.is_integer() and abs(number) >= 1000:
        return f"{int(number):,}"
    return f"{number:.{digits}f}"
