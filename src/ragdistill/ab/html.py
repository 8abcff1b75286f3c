"""Pieces every stage's HTML A/B report shares: inline CSS, colours, tables, PNG data URIs.

A report built from these opens anywhere, offline: it loads no script, stylesheet,
font or image from anywhere.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable
from typing import Any

COLORS = {"teacher": "#4C72B0", "student": "#DD8452", "baseline": "#8C8C8C"}
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1100px;color:#222;line-height:1.4;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0 1rem}td,th{padding:.3rem .7rem;
border-bottom:1px solid #eee;text-align:right}th:first-child,td:first-child{text-align:left}
th{background:#f6f6f6}.good{color:#1a7f37;font-weight:600}.bad{color:#cf222e;font-weight:600}
.muted{color:#777;font-size:.9rem}img{max-width:100%;margin:.5rem 0}
"""


def png(fig: Any, plt: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def table(head: list[str], rows: list[list[Any]], *, raw: bool = False) -> str:
    cell: Callable[[Any], str] = str if raw else escape
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    trs = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>"


def options_text(describe: dict[str, Any]) -> str:
    opts = describe.get("options") or {}
    return ", ".join(f"{k}={v}" for k, v in opts.items()) or "-"


def num(value: float | int | None, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def size_text(value: int | None) -> str:
    if value is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024  # type: ignore[assignment]
    return f"{value} B"


def escape(value: Any) -> str:
    return html.escape(str(value), quote=True)
