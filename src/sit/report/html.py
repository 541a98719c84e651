"""``report.html``: one self-contained file (styles inline, every image a ``data:`` URI)."""

from __future__ import annotations

import base64
import html
import re

from .document import Bullets, Callout, Figure, Report, Table, Text

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 980px; margin: 2em auto;
       padding: 0 1.2em; color: #1d2733; line-height: 1.5; }
h1 { font-size: 1.9em; margin-bottom: 0.1em; } h2 { border-bottom: 2px solid #dce3ea; padding-bottom: 0.2em;
       margin-top: 2em; } .subtitle { color: #5a6b7b; margin-top: 0; }
table { border-collapse: collapse; margin: 0.8em 0 0.2em; font-size: 0.88em; width: 100%; }
th, td { border: 1px solid #d5dde5; padding: 0.3em 0.55em; text-align: left; vertical-align: top; }
th { background: #eef3f8; } tr:nth-child(even) td { background: #fafcfd; }
.caption { font-size: 0.88em; color: #3d4d5c; margin: 0.2em 0; } .source { font-size: 0.78em; color: #6b7b8b; }
figure { margin: 1.2em 0; } figure img { max-width: 100%; border: 1px solid #e4e9ee; }
.callout { padding: 0.7em 1em; border-radius: 6px; margin: 1em 0; border-left: 5px solid; }
.warning { background: #fff4e5; border-color: #f0a030; } .missing { background: #f2f4f6; border-color: #9aa7b4; }
.note { background: #eaf4fb; border-color: #4c8bc0; }
code { background: #f0f2f4; padding: 0.05em 0.3em; border-radius: 3px; font-size: 0.92em; }
nav ol { columns: 2; font-size: 0.92em; }
"""

_LINK = re.compile(r"\[([^\]]+)\]\(([^)]+)\)")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_CODE = re.compile(r"`([^`]+)`")


def inline(text: str) -> str:
    """Escape, then turn the document's inline markup into tags."""
    out = html.escape(str(text), quote=False)
    out = _CODE.sub(r"<code>\1</code>", out)
    out = _BOLD.sub(r"<b>\1</b>", out)
    return _LINK.sub(lambda m: f'<a href="{html.escape(m.group(2))}">{m.group(1)}</a>', out)


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _table(table: Table) -> str:
    head = "".join(f"<th>{inline(c)}</th>" for c in table.columns)
    body = "".join("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in row) + "</tr>" for row in table.rows)
    caption = f'<p class="caption">{inline(table.caption)}</p>' if table.caption else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{caption}" \
           f'<p class="source">{inline(table.source)}</p>'


def _block(block) -> str:
    if isinstance(block, Text):
        return f"<p>{inline(block.text)}</p>"
    if isinstance(block, Bullets):
        return "<ul>" + "".join(f"<li>{inline(i)}</li>" for i in block.items) + "</ul>"
    if isinstance(block, Callout):
        return f'<div class="callout {block.kind}">{inline(block.text)}</div>'
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Figure):
        return (f'<figure><img alt="{html.escape(block.caption)}" src="{data_uri(block.png)}">'
                f'<figcaption class="caption">{inline(block.caption)}</figcaption>'
                f'<p class="source">{inline(block.source)}</p></figure>')
    raise TypeError(f"unknown block {type(block).__name__}")


def render(report: Report) -> str:
    nav = "".join(f'<li><a href="#{s.key}">{html.escape(s.title)}</a></li>' for s in report.sections)
    rendered = [f'<section id="{s.key}"><h2>{html.escape(s.title)}</h2>'
                + "".join(_block(b) for b in s.blocks) + "</section>" for s in report.sections]
    # The first section (with the toy-world warning) comes before the contents: it must be seen first.
    sections = "".join(rendered[:1]) + f"<nav><h2>Contents</h2><ol>{nav}</ol></nav>" + "".join(rendered[1:])
    sources = "".join(f"<li><code>{html.escape(s)}</code></li>" for s in report.sources)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(report.title)}</title><style>{CSS}</style></head><body>"
            f"<h1>{html.escape(report.title)}</h1><p class=\"byline\"><strong>{inline(report.byline)}</strong></p>"
            f"<p class=\"subtitle\">{inline(report.subtitle)}</p>"
            f"{sections}"
            f'<section id="sources"><h2>Sources</h2><ul>{sources}</ul></section></body></html>\n')
