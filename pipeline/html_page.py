"""Self-contained HTML pages: prep's CSS, tables, and matplotlib charts embedded as PNG.

Shared by OUT/report.html and the ablation report; nothing is fetched and no script runs.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1180px}
body{color:#222}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.86em}
td,th{border:1px solid #ddd;padding:.25em .6em;text-align:right}
th{background:#f4f4f4}td.l,th.l{text-align:left}tr.total td{font-weight:600;background:#fafafa}
.note{color:#666;font-size:.9em}img{max-width:100%}.kpi{display:inline-block;margin:0 2em .5em 0}
.kpi b{display:block;font-size:1.4em}
"""


def png(fig) -> str:
    """A matplotlib figure as an <img> with the PNG inline; closes the figure."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return f'<img alt="chart" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def figure(width: float = 9, height: float = 3.2):
    """A (figure, axes) pair on the Agg backend (no display needed)."""
    import logging

    import matplotlib

    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height))


def table(
    header: list[str], rows: list[list], left: int = 1, total: bool = False, text_last: bool = False
) -> str:
    """An HTML table; the first `left` columns (and the last, when it is text) align left."""

    def cls(i: int) -> str:
        return "l" if i < left or (text_last and i == len(header) - 1) else ""

    out = ["<table><tr>"]
    out += [f'<th class="{cls(i)}">{html.escape(h)}</th>' for i, h in enumerate(header)]
    out.append("</tr>")
    for r, row in enumerate(rows):
        total_row = ' class="total"' if total and r == len(rows) - 1 else ""
        cells = [f'<td class="{cls(i)}">{html.escape(str(v))}</td>' for i, v in enumerate(row)]
        out.append(f"<tr{total_row}>{''.join(cells)}</tr>")
    out.append("</table>")
    return "".join(out)


def write_page(path: Path, title: str, body: list[str]) -> Path:
    """A self-contained HTML page (prep's CSS, no script), replaced atomically."""
    page = (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>"
    )
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path
