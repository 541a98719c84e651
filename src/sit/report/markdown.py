"""``report.md``: the report as Markdown, its figures as PNG files in a folder beside it."""

from __future__ import annotations

from .document import Bullets, Callout, Figure, Report, Table, Text

ASSETS = "report_files"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def table_md(table: Table) -> list[str]:
    lines = ["| " + " | ".join(map(_cell, table.columns)) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows]
    if table.caption:
        lines.append(f"\n*{table.caption}*")
    return [*lines, f"<sub>{table.source}</sub>", ""] if table.source else [*lines, ""]


def render(report: Report) -> str:
    lines = [f"# {report.title}", "", f"**{report.byline}**", "", f"*{report.subtitle}*", ""]
    for section in report.sections:
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, Text):
                lines += [block.text, ""]
            elif isinstance(block, Bullets):
                lines += [f"- {item}" for item in block.items] + [""]
            elif isinstance(block, Callout):
                label = {"warning": "⚠️ ", "missing": "⏳ "}.get(block.kind, "")
                lines += [f"> {label}{block.text}", ""]
            elif isinstance(block, Table):
                lines += table_md(block)
            elif isinstance(block, Figure):
                lines += [f"![{block.caption}]({ASSETS}/{block.name}.png)", "", f"*{block.caption}* ",
                          f"<sub>{block.source}</sub>", ""]
    lines += ["## Sources", "", *[f"- `{s}`" for s in report.sources], ""]
    return "\n".join(lines)
