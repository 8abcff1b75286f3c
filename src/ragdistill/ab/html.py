"""Pieces every stage's HTML A/B report shares: inline CSS, colours, tables, PNG data URIs.

A report built from these opens anywhere, offline: it loads no script, stylesheet,
font or image from anywhere. Tables stay within the page: each sits in a box that
scrolls sideways when it is still too wide, and a long cell (component options, model
paths) wraps or folds into a ``<details>`` element instead of widening its column.
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
.wide{max-width:100%;overflow-x:auto}
table{border-collapse:collapse;margin:.5rem 0 1rem}td,th{padding:.3rem .7rem;
border-bottom:1px solid #eee;text-align:right;vertical-align:top}
th:first-child,td:first-child{text-align:left}
th{background:#f6f6f6}.good{color:#1a7f37;font-weight:600}.bad{color:#cf222e;font-weight:600}
.muted{color:#777;font-size:.9rem}img{max-width:100%;margin:.5rem 0}
.fit{display:inline-block;max-width:18rem;text-align:left;overflow-wrap:anywhere}
.opts{display:inline-block;max-width:24rem;text-align:left;overflow-wrap:anywhere}
.opts summary{cursor:pointer;color:#555}.opts code{display:block;font-size:.85rem}
.lead{font-size:1.05rem;background:#f3f7ff;border-left:4px solid #4C72B0;
padding:.5rem 1rem;margin:1rem 0}.lead p{margin:.3rem 0}
"""
#: Options longer than this fold into a ``<details>`` element in a table cell.
INLINE_OPTIONS = 48
#: What a cached arm shows in place of a figure its cache would falsify.
CACHED_MARK = "cached*"


class Html(str):
    """Markup that :func:`table` puts in a cell as it is (every other value is escaped)."""


def png(fig: Any, plt: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def table(head: list[str], rows: list[list[Any]], *, raw: bool = False) -> str:
    """A table in a box that scrolls sideways if it is wider than the page.

    Cells are escaped, except :class:`Html` ones and every cell when ``raw``.
    """
    cell: Callable[[Any], str] = str if raw else _cell
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    trs = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<div class=wide><table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table></div>"


def options_text(describe: dict[str, Any]) -> str:
    opts = describe.get("options") or {}
    return ", ".join(f"{k}={v}" for k, v in opts.items()) or "-"


def options_cell(describe: dict[str, Any]) -> Html:
    """A component's options for a table cell: inline when short, else folded away."""
    opts = describe.get("options") or {}
    text = options_text(describe)
    if len(text) <= INLINE_OPTIONS:
        return Html(f"<span class=opts>{escape(text)}</span>")
    lines = "".join(f"<code>{escape(k)}={escape(v)}</code>" for k, v in opts.items())
    n = len(opts)
    return Html(
        f"<details class=opts><summary>{n} option{'s' * (n != 1)}</summary>{lines}</details>"
    )


def fit(value: Any) -> Html:
    """A long word (a model path, a class name) that may wrap instead of widening its column."""
    return Html(f"<span class=fit>{escape(value)}</span>")


def cached_note(measured: str, *, source: str = "the teacher cache") -> str:
    """The footnote under a table where a cached arm shows :data:`CACHED_MARK`."""
    return (
        f"<p class=muted>* cached: this arm's outputs were read from {escape(source)}, not "
        "computed by its model in this run, so the figure would describe the cache read "
        "(and a model doing the work for the first time), not the model; it is not shown. "
        f"{escape(measured)}</p>"
    )


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


def _cell(value: Any) -> str:
    return value if isinstance(value, Html) else escape(value)
