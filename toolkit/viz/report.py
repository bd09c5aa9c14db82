"""The self-contained HTML report: summary, coverage, heatmaps, cross-namespace flows, and the
boundary and policy findings when those analyses are available.

One file that works offline: plotly's JavaScript is inlined once in ``<head>``, every figure
after it is a ``<div>`` plus a small script. Every name, label and message from the snapshot is
untrusted: HTML text goes through :func:`html.escape`, plotly labels through
:func:`toolkit.viz.interactive.esc`, and plotly's JSON escapes ``<``/``>``/``/``. As a second
line of defence the page carries a Content-Security-Policy that only runs scripts bearing the
page's random nonce, so markup smuggled into a label could not run even if it were unescaped.

>>> import toolkit as kt
>>> from toolkit.viz import write_report
>>> snap = kt.load_snapshot(kt.demo_data_path() / "demo-day1")      # doctest: +SKIP
>>> write_report(snap, "/tmp/report.html")                          # doctest: +SKIP
PosixPath('/tmp/report.html')
"""

from __future__ import annotations

import html
import os
import re
import secrets
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import plotly.io as pio
import plotly.offline

from toolkit._store import file_mode
from toolkit._version import __version__
from toolkit.errors import KsegError

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;color:#222;
background:#fafafa}
header{background:#23395d;color:#fff;padding:18px 28px}
header h1{margin:0 0 4px 0;font-size:22px} header p{margin:0;opacity:.85;font-size:13px}
nav{padding:10px 28px;background:#fff;border-bottom:1px solid #ddd;font-size:13px}
nav a{margin-right:14px;color:#23395d;text-decoration:none}
main{padding:8px 28px 40px 28px;max-width:1400px}
section{background:#fff;border:1px solid #e3e3e3;border-radius:6px;margin:18px 0;
padding:14px 18px}
section h2{margin:0 0 6px 0;font-size:18px;color:#23395d}
p.lead{margin:0 0 10px 0;color:#555;font-size:13px}
table.kv,table.grid{border-collapse:collapse;font-size:13px;margin:6px 0}
table.kv td,table.kv th,table.grid td,table.grid th{border-bottom:1px solid #eee;
padding:3px 12px 3px 0;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.note{color:#8a5a00;background:#fff7e0;border-left:3px solid #e0a800;padding:6px 10px;
font-size:13px;margin:8px 0}
footer{color:#777;font-size:12px;padding:0 28px 24px 28px}
"""


_SCRIPT_TAG = re.compile(r"<script(?:\s[^>]*)?>")


@dataclass(frozen=True)
class Section:
    """One report section: an anchor id, a title, a lead sentence and trusted HTML body."""

    id: str
    title: str
    lead: str
    body: str


def text(value: Any) -> str:
    """Untrusted text as HTML (``None`` as a dash).

    >>> text('<img src=x onerror="alert(1)">')
    '&lt;img src=x onerror=&quot;alert(1)&quot;&gt;'
    """
    return "—" if value is None else html.escape(str(value), quote=True)


def kv_table(rows: Iterable[tuple[str, Any]]) -> str:
    """A two-column key/value table; both sides escaped."""
    cells = "".join(f"<tr><th>{text(k)}</th><td>{text(_display(v))}</td></tr>" for k, v in rows)
    return f"<table class='kv'>{cells}</table>"


def frame_table(frame: Any, max_rows: int = 25) -> str:
    """A polars frame as an HTML table (escaped; numbers right-aligned, first rows only)."""
    head = "".join(f"<th>{text(c)}</th>" for c in frame.columns)
    numeric = [dtype.is_numeric() for dtype in frame.dtypes]
    body = []
    for row in frame.head(max_rows).iter_rows():
        cells = "".join(f"<td class='num'>{text(_display(v))}</td>" if num
                        else f"<td>{text(_display(v))}</td>"
                        for v, num in zip(row, numeric, strict=True))
        body.append(f"<tr>{cells}</tr>")
    more = (f"<p class='lead'>… {frame.height - max_rows:,} more rows</p>"
            if frame.height > max_rows else "")
    return f"<table class='grid'><tr>{head}</tr>{''.join(body)}</table>{more}"


def _display(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M:%S} UTC"
    return value


class FigureWriter:
    """Turns plotly figures into divs whose scripts carry the page's CSP nonce."""

    def __init__(self, nonce: str):
        self.nonce = nonce
        self.count = 0

    def __call__(self, fig: Any) -> str:
        self.count += 1
        div = pio.to_html(fig, include_plotlyjs=False, full_html=False,
                          div_id=f"kseg-fig-{self.count}",
                          config={"displaylogo": False, "responsive": True})
        # plotly's JSON escapes "<" as \u003c, so every <script> tag here is plotly's own
        return _SCRIPT_TAG.sub(f'<script nonce="{self.nonce}">', div)


def render(title: str, subtitle: str, sections: list[Section], notes: list[str],
           figure_nonce: str) -> str:
    """The whole page: head with inlined plotly.js, navigation, sections, footer."""
    nonce = figure_nonce
    csp = (f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; "
           "img-src data:; font-src data:")
    nav = "".join(f"<a href='#{text(s.id)}'>{text(s.title)}</a>" for s in sections)
    body = "".join(
        f"<section id='{text(s.id)}'><h2>{text(s.title)}</h2>"
        f"<p class='lead'>{text(s.lead)}</p>{s.body}</section>" for s in sections)
    missing = "".join(f"<div class='note'>{text(n)}</div>" for n in notes)
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{csp}\">"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{text(title)}</title><style>{_CSS}</style>"
        f"<script type='text/javascript' nonce='{nonce}'>{plotly.offline.get_plotlyjs()}"
        "</script></head><body>"
        f"<header><h1>{text(title)}</h1><p>{text(subtitle)}</p></header>"
        f"<nav>{nav}</nav><main>{missing}{body}</main>"
        f"<footer>kseg {text(__version__)} · generated {text(generated)}</footer>"
        "</body></html>")


def new_nonce() -> str:
    """A fresh random nonce for the page's Content-Security-Policy."""
    return secrets.token_urlsafe(18)


def write_atomic(path: str | Path, content: str) -> Path:
    """Write ``content`` to ``path`` through a temporary file in the same folder + rename."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise KsegError(f"{folder}: output folder does not exist",
                        hint="create it first or choose another --out")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path



def report_html(snap: Any, *, title: str | None = None, top_n: int = 30) -> str:
    """The report of ``snap`` as one HTML string (see :func:`write_report`)."""
    from toolkit.viz import _sections

    nonce = new_nonce()
    ctx = _sections.Context(snap, FigureWriter(nonce), top_n=top_n)
    sections = []
    for build in _sections.BUILDERS:
        try:
            section = build(ctx)
        except KsegError as exc:  # an analysis refused this snapshot: say so, keep the rest
            name = build.__name__.replace("_", " ")
            ctx.notes.append(f"{name}: not shown ({exc})")
            continue
        if section is not None:
            sections.append(section)
    if not ctx.has_flows:
        ctx.notes.append("The snapshot holds no flow records: import some with "
                         "'kseg flows import' to see the traffic sections.")
    window = snap.flow_window()
    span = (f"flows {window[0]:%Y-%m-%d %H:%M} → {window[1]:%Y-%m-%d %H:%M} UTC"
            if window else "no flows")
    heading = title or f"kseg report: {snap.cluster}"
    return render(heading, f"cluster {snap.cluster} · {span}", sections, ctx.notes, nonce)


def write_report(snap: Any, path: str | Path, *, title: str | None = None,
                 top_n: int = 30) -> Path:
    """Write the self-contained HTML report of ``snap`` to ``path`` (atomically) and return
    the path. ``snap`` is a :class:`~toolkit.snapshot.Snapshot` or a snapshot folder."""
    if isinstance(snap, (str, Path)):
        from toolkit.snapshot import load_snapshot

        snap = load_snapshot(snap)
    return write_atomic(path, report_html(snap, title=title, top_n=top_n))
