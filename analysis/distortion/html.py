"""The self-contained HTML report: every figure embedded as a PNG data URI, tables inline.

Each figure is also linked by its file name (relative to the HTML), so the report opens the
same from the output folder, from a copied folder, or from MLflow's artifact view, where the
HTML and the PNGs are logged side by side.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

#: Rows of a table shown inline; the CSV next to the report has all of them.
MAX_ROWS = 40
STYLE = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:12px;margin:.5em 0}td,th{border:1px solid #ddd;padding:2px 6px;text-align:right}
th{background:#f3f3f3}img{max-width:100%;border:1px solid #eee}.note{color:#555;font-size:13px}"""


@dataclass(frozen=True)
class Section:
    """One part of the report: a heading, a note, figures and tables (with their CSVs)."""

    title: str
    note: str = ""
    figures: tuple[Path, ...] = ()
    tables: tuple[tuple[str, pd.DataFrame, Path | None], ...] = ()


def _figure(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    name = html.escape(path.name)
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{name}">'
            f'<figcaption class="note"><a href="{name}">{name}</a></figcaption></figure>')


def _table(caption: str, table: pd.DataFrame, csv: Path | None) -> str:
    link = f' — <a href="{html.escape(csv.name)}">{html.escape(csv.name)}</a>' if csv is not None else ""
    more = f" (first {MAX_ROWS} of {len(table)} rows)" if len(table) > MAX_ROWS else ""
    body = (table.head(MAX_ROWS).to_html(index=False, border=0, float_format=lambda v: f"{v:.4g}", na_rep="–")
            if len(table) else "<p class='note'>empty</p>")
    return f"<p><b>{html.escape(caption)}</b>{more}{link}</p>{body}"


def render_report(title: str, summary: list[tuple[str, str]], sections: list[Section], path: Path) -> Path:
    """Write the report to `path` and return it.

    Args:
        title: Page heading.
        summary: (label, value) lines shown first.
        sections: The report's parts, in order.
        path: Where to write the HTML.
    """
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1><ul>"]
    parts += [f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>" for k, v in summary]
    parts.append("</ul>")
    for section in sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        if section.note:
            parts.append(f"<p class='note'>{html.escape(section.note)}</p>")
        parts += [_figure(p) for p in section.figures]
        parts += [_table(caption, table, csv) for caption, table, csv in section.tables]
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def referenced_files(report: str) -> tuple[list[bytes], list[str]]:
    """(decoded embedded images, relative link targets) of a rendered report."""
    images = [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', report)]
    links = re.findall(r'href="([^"#:]+)"', report)
    return images, links
