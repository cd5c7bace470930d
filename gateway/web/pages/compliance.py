"""The compliance officer's pages (issue 15 section 2): the dashboard, its drill-downs to audit
entries with their verification status, a student's accounting of disclosures, and CSV exports.

Thin views over gateway/service/compliance_dashboard.py and gateway/service/accounting.py (each
read and export audited there). Charts are SVG rendered here by pygal with no script and nothing
fetched, each with a title, a description and a table of the same numbers beside it.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import pygal
from flask import Response, redirect, request
from markupsafe import Markup
from pygal.style import Style

from gateway.core import accounting as accounting_core
from gateway.core import dashboard as core
from gateway.core.people import COMPLIANCE
from gateway.errors import InputInvalid, Issue
from gateway.service import compliance_dashboard as service
from gateway.service.accounting import accounting_for
from gateway.service.people import audit_reader_for
from gateway.web.auth import current_runtime
from gateway.web.i18n import gettext as _
from gateway.web.pages.common import make_blueprint, render_page, requires_role, signed_in_person

# pygal appends a legacy import hook to sys.meta_path (find_module only, for its map plugins) that
# makes every later import warn (ImportWarning). The gateway uses no map plugin: take it out.
sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, pygal.PluginImportFixer)]

bp = make_blueprint("compliance")
DEFAULT_DAYS = 30
MAX_REF = 200
SELECTOR_KEYS = ("source", "recipient", "category", "purpose", "reason", "state", "item")


# -- filters ----------------------------------------------------------------------------------


def _date(name: str, default: dt.date) -> dt.date:
    text = request.args.get(name, "").strip()
    if not text:
        return default
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InputInvalid(
            "the dates are not valid", [Issue(path=name, message="a date as YYYY-MM-DD")]
        ) from None


def _period() -> tuple[dt.date, dt.date]:
    end = _date("to", current_runtime().now().date())
    return _date("from", end - dt.timedelta(days=DEFAULT_DAYS - 1)), end


def _selector() -> core.Selector:
    start, end = _period()
    keys = {k: request.args.get(k) for k in SELECTOR_KEYS}
    figure = request.args.get("figure", core.FLOWS)
    return core.Selector(
        figure=figure, start=start, end=end, organization=request.args.get("organization", ""), **keys
    )


def _reader() -> Any:
    return audit_reader_for(signed_in_person())


def _csv(name: str, header: Sequence[str], rows: Sequence[Sequence[object]], period: str) -> Response:
    # The name is built from known words and ISO dates only: nothing a request chose goes in a header.
    response = Response(core.to_csv(header, rows), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="compliance-{name}-{period}.csv"'
    return response


def _wants_csv() -> bool:
    return request.args.get("format") == "csv"


# -- views ------------------------------------------------------------------------------------


@bp.get("/compliance")
@requires_role(COMPLIANCE)
def dashboard() -> Response:
    start, end = _period()
    organization = request.args.get("organization", "").strip()
    table = request.args.get("table") if _wants_csv() else None
    if table is not None and table not in service.TABLES:
        raise InputInvalid(
            "no such table", [Issue(path="table", message=f"one of {', '.join(service.TABLES)}")]
        )
    board = service.dashboard(
        current_runtime(), _reader(), start=start, end=end, organization=organization, export=table
    )
    if table is not None:
        header, rows = service.table(board, table)
        return _csv(table, header, rows, f"{start}-{end}")
    return render_page(
        "compliance/dashboard.html",
        board=board,
        link=lambda figure, **keys: _link(board, figure, **keys),
        csv_link=lambda table: _query_link(
            "/compliance", _filters(board) | {"format": "csv", "table": table}
        ),
        charts=_charts(board),
        flow_diagram=flow_layout(board.report["flows"]),
        reasons=REASON_WORDS,
    )


@bp.get("/compliance/entries")
@requires_role(COMPLIANCE)
def entries() -> Response:
    selector = _selector()
    drill = service.entries(current_runtime(), _reader(), selector, export=_wants_csv())
    if _wants_csv():
        return _csv(
            "entries", service.ENTRY_COLUMNS, service.entry_rows(drill), f"{selector.start}-{selector.end}"
        )
    return render_page(
        "compliance/entries.html",
        drill=drill,
        selector=selector,
        csv_link=_query_link("/compliance/entries", selector.to_query() | {"format": "csv"}),
        back_link=_query_link("/compliance", _filters(selector)),
        reasons=REASON_WORDS,
        statuses=STATUS_WORDS,
    )


@bp.get("/compliance/students")
@requires_role(COMPLIANCE)
def student_lookup() -> Response:
    ref = request.args.get("student", "").strip()
    if not ref or len(ref) > MAX_REF:
        raise InputInvalid(
            "give a student", [Issue(path="student", message=f"an id, at most {MAX_REF} characters")]
        )
    return redirect(_query_link(f"/compliance/students/{_quote(ref)}/disclosures", {}), 303)  # type: ignore[return-value]


@bp.get("/compliance/students/<path:ref>/disclosures")
@requires_role(COMPLIANCE)
def disclosures(ref: str) -> Response:
    if len(ref) > MAX_REF:
        raise InputInvalid("give a student", [Issue(path="student", message=f"at most {MAX_REF} characters")])
    start = _date("from", dt.date.min) if request.args.get("from") else None
    end = _date("to", dt.date.max) if request.args.get("to") else None
    rt, reader = current_runtime(), _reader()
    found = accounting_for(rt, reader, ref, start=start, end=end)
    if _wants_csv():
        query = {"student": ref, "from": found.start, "to": found.end}
        service.record_export(rt, reader, "disclosures", query)
        response = Response(accounting_core.to_csv(found), mimetype="text/csv")
        response.headers["Content-Disposition"] = 'attachment; filename="accounting-of-disclosures.csv"'
        return response
    here = f"/compliance/students/{_quote(ref)}/disclosures"
    query = {k: v for k, v in (("from", found.start), ("to", found.end)) if v}
    return render_page(
        "compliance/disclosures.html",
        accounting=found,
        here_path=here,
        csv_link=_query_link(here, query | {"format": "csv"}),
        cells=accounting_core.table_cells,
    )


# -- links ------------------------------------------------------------------------------------


def _quote(value: str) -> str:
    return quote(value, safe="")


def _query_link(path: str, query: Mapping[str, Any]) -> str:
    pairs = {k: v for k, v in query.items() if v is not None}
    return f"{path}?{urlencode(pairs)}" if pairs else path


def _filters(source: core.Dashboard | core.Selector) -> dict[str, str]:
    found = {"from": source.start.isoformat(), "to": source.end.isoformat()}
    return found | ({"organization": source.organization} if source.organization else {})


def _link(
    board: core.Dashboard, figure: str, start: dt.date | None = None, end: dt.date | None = None, **keys: Any
) -> str:
    selector = core.Selector(
        figure=figure,
        start=start or board.start,
        end=end or board.end,
        organization=board.organization,
        **{k: (None if v is None else str(v)) for k, v in keys.items()},
    )
    return _query_link("/compliance/entries", selector.to_query())


# -- words ------------------------------------------------------------------------------------

REASON_WORDS = {
    "no-agreement": "No agreement covers it",
    "no-legal-basis": "No legal basis",
    "consent-denied": "Consent missing or refused",
    "vocabulary": "Unknown party, category or purpose",
    "other": "Other reason",
}
STATUS_WORDS = {
    core.VERIFIED: ("✓", "Verified: intact and covered by a signed tree head"),
    core.UNSIGNED: ("…", "Intact, not yet covered by a signed tree head"),
    core.UNPROVEN: ("?", "Intact, but no signed head covering it checks out"),
    core.BROKEN: ("✗", "Broken: edited, moved or unlinked"),
}


# -- charts -----------------------------------------------------------------------------------

CHART_STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#1b1b1b",
    foreground_strong="#1b1b1b",
    foreground_subtle="#4a4a4a",
    colors=("#0b5394", "#8a1c1c", "#38761d", "#7f6000"),
    font_family="system-ui, sans-serif",
    title_font_size=16,
    label_font_size=13,
    major_label_font_size=13,
    value_font_size=13,
    legend_font_size=14,
)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
# pygal always writes its config for its tooltip script inline; there is no script to read it, and
# the pages' policy runs no inline script. (XML escapes "<" in text, so the first end tag is its own.)
_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.DOTALL)
_XMLNS = re.compile(r'\s+xmlns(:\w+)?="[^"]*"')
_CHART_ID = re.compile(r'id="(chart-[0-9a-f-]+)"')


def chart_markup(chart: Any, key: str, title: str, description: str) -> Markup:
    """pygal's SVG made fit to inline: no comments or namespace URLs (nothing points off the
    gateway), a stable id, and a <title>/<desc> the page's assistive technology reads."""
    svg = _SCRIPT.sub("", _COMMENT.sub("", chart.render(is_unicode=True)))
    svg = _XMLNS.sub("", svg)
    found = _CHART_ID.search(svg)
    if found:  # pygal names the chart with a random uuid; the page's id is stable
        svg = svg.replace(found.group(1), f"chart-{key}")
    head_end = svg.index(">")
    labelled = f' role="img" aria-labelledby="{key}-title {key}-desc"'
    caption = Markup('<title id="{k}-title">{t}</title><desc id="{k}-desc">{d}</desc>').format(
        k=key, t=title, d=description
    )
    # pygal builds the SVG as an element tree, so labels (partners' ids) arrive escaped.
    return Markup(svg[:head_end] + labelled + ">" + str(caption) + svg[head_end + 1 :])


def _whole_numbers(values: Sequence[int]) -> list[int]:
    """Axis marks for counts: whole numbers only, about ten of them."""
    top = max([*values, 1])
    step = max(1, -(-top // 10))
    return list(range(0, top + step, step))


def _config(**more: Any) -> dict[str, Any]:
    # js=[]: pygal's default loads its tooltip script from the internet; the page loads nothing.
    return {
        "js": [],
        "style": CHART_STYLE,
        "disable_xml_declaration": True,
        "show_legend": True,
        "legend_at_bottom": True,
        "width": 900,
        "height": 360,
        "print_values": True,
        "print_zeroes": False,
        "truncate_label": -1,  # labels are ids and reasons: shown whole
        **more,
    }


@dataclass(frozen=True)
class ChartSpec:
    """Everything a chart's SVG depends on (words already translated): the key of its cache."""

    horizontal: bool
    key: str
    title: str
    description: str
    x_labels: tuple[str, ...]
    series: tuple[tuple[str, tuple[int, ...]], ...]
    options: tuple[tuple[str, Any], ...] = ()
    x_labels_major: tuple[str, ...] | None = None


# Rendering is most of the page's time and the dashboard is read again and again over the same
# numbers: each chart's SVG is kept for the process, by its spec (bounded, least recently used).
# The SVG is a function of the spec alone (the random chart id is replaced by the key).
@functools.lru_cache(maxsize=64)
def render_chart(spec: ChartSpec) -> Markup:
    options = {k: list(v) if isinstance(v, tuple) else v for k, v in spec.options}  # pygal wants lists
    chart = (pygal.HorizontalBar if spec.horizontal else pygal.Bar)(**_config(**options))
    chart.x_labels = list(spec.x_labels)
    if spec.x_labels_major is not None:
        chart.x_labels_major = list(spec.x_labels_major)
    for name, values in spec.series:
        chart.add(name, list(values))
    return chart_markup(chart, spec.key, spec.title, spec.description)


def _series_chart(board: core.Dashboard) -> Markup:
    labels = tuple(b.label for b in board.series)
    total = sum(b.disclosures for b in board.series)
    denied = sum(b.denials for b in board.series)
    desc = _(
        "%(disclosures)s disclosures and %(denials)s denials by %(unit)s; the table gives each number.",
        disclosures=total,
        denials=denied,
        unit=_(board.granularity),
    )
    spec = ChartSpec(
        horizontal=False,
        key="series",
        title=_("Flows over time"),
        description=desc,
        x_labels=labels,
        x_labels_major=labels[:: max(1, len(labels) // 10)],
        series=(
            (_("Disclosures"), tuple(b.disclosures for b in board.series)),
            (_("Denials"), tuple(b.denials for b in board.series)),
        ),
        options=(("x_label_rotation", 45 if len(labels) > 12 else 0), ("show_minor_x_labels", False)),
    )
    return render_chart(spec)


def _bar_chart(key: str, title: str, rows: Sequence[tuple[str, int]]) -> Markup:
    height = max(160, 48 * len(rows) + 80)
    desc = "; ".join(f"{label or _('(none)')}: {n}" for label, n in rows) or _("Nothing in this period.")
    spec = ChartSpec(
        horizontal=True,
        key=key,
        title=title,
        description=desc,
        x_labels=tuple(label or _("(none)") for label, _n in rows),
        series=((title, tuple(n for _label, n in rows)),),
        options=(
            ("show_legend", False),
            ("height", height),
            ("y_labels", tuple(_whole_numbers([n for _l, n in rows]))),
        ),
    )
    return render_chart(spec)


def _charts(board: core.Dashboard) -> dict[str, Markup]:
    report = board.report
    return {
        "series": _series_chart(board),
        "categories": _bar_chart(
            "categories",
            _("Disclosures by category"),
            [(r["category"], r["disclosures"]) for r in board.by_category],
        ),
        "purposes": _bar_chart(
            "purposes",
            _("Disclosures by purpose"),
            [(r["purpose"], r["disclosures"]) for r in board.by_purpose],
        ),
        "denials": _bar_chart("denials", _("Denials by reason"), _denials_by_reason(report["denials"])),
    }


def _denials_by_reason(rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, int]]:
    totals: dict[str, int] = {}
    for row in rows:
        totals[row["reason"]] = totals.get(row["reason"], 0) + int(row["denials"])
    return [(_(REASON_WORDS.get(code, code)), n) for code, n in sorted(totals.items())]


# -- the flow diagram: organizations left (sources) and right (recipients), bands as wide as
# -- their disclosures, each band labelled with its number (no colour needed to read it) ------

DIAGRAM_WIDTH, NODE_X, RECIPIENT_X, NODE_W, GAP, SPAN = 900, 250, 640, 12, 18, 320


def flow_layout(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Positions for the flow diagram's template: nodes with their totals, bands with widths."""
    pairs = [(r["source"] or "-", r["recipient"] or "-", int(r["disclosures"])) for r in rows]
    left = _totals((s, n) for s, _r, n in pairs)
    right = _totals((r, n) for _s, r, n in pairs)
    scale = SPAN / max(sum(left.values()), sum(right.values()), 1)
    left_nodes, right_nodes = _stack(left, scale), _stack(right, scale)
    height = max(_height(left_nodes), _height(right_nodes), 60)
    taken = {
        **{("L", k): v["y"] for k, v in left_nodes.items()},
        **{("R", k): v["y"] for k, v in right_nodes.items()},
    }
    bands = []
    for source, recipient, n in pairs:
        width = max(n * scale, 2.0)
        y0, y1 = taken[("L", source)] + width / 2, taken[("R", recipient)] + width / 2
        taken[("L", source)] += width
        taken[("R", recipient)] += width
        mid = (NODE_X + NODE_W + RECIPIENT_X) / 2
        path = f"M{NODE_X + NODE_W},{y0:.1f} C{mid},{y0:.1f} {mid},{y1:.1f} {RECIPIENT_X},{y1:.1f}"
        bands.append(
            {
                "source": source,
                "recipient": recipient,
                "count": n,
                "width": round(width, 1),
                "path": path,
                "label_x": mid,
                "label_y": round((y0 + y1) / 2 + 5, 1),
            }
        )
    return {
        "width": DIAGRAM_WIDTH,
        "height": round(height + 10),
        "left": left_nodes,
        "right": right_nodes,
        "bands": bands,
        "node_x": NODE_X,
        "recipient_x": RECIPIENT_X,
        "node_w": NODE_W,
    }


def _totals(items: Iterable[tuple[str, int]]) -> dict[str, int]:
    found: dict[str, int] = {}
    for name, n in items:
        found[name] = found.get(name, 0) + n
    return found


def _stack(totals: Mapping[str, int], scale: float) -> dict[str, dict[str, float]]:
    nodes, y = {}, 30.0
    for name in sorted(totals):
        height = max(totals[name] * scale, 2.0)
        nodes[name] = {
            "y": y,
            "height": round(height, 1),
            "total": totals[name],
            "label_y": round(y + height / 2 + 5, 1),
        }
        y += max(height, 22) + GAP
    return nodes


def _height(nodes: Mapping[str, Mapping[str, float]]) -> float:
    return max((n["y"] + max(n["height"], 22) for n in nodes.values()), default=0.0)
