"""The compliance dashboard's charts: pygal bar charts rendered to inline SVG (no script, nothing
fetched, a title and description on each, cached per process by what they show) and the layout of
the flow diagram the template draws (organizations left and right, bands as wide as their flows)."""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pygal
from markupsafe import Markup
from pygal.style import Style

from gateway.core import dashboard as core
from gateway.web.i18n import gettext as _

# pygal appends a legacy import hook to sys.meta_path (find_module only, for its map plugins) that
# makes every later import warn (ImportWarning). The gateway uses no map plugin: take it out.
sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, pygal.PluginImportFixer)]

REASON_WORDS = {
    "no-agreement": "No agreement covers it",
    "no-legal-basis": "No legal basis",
    "consent-denied": "Consent missing or refused",
    "vocabulary": "Unknown party, category or purpose",
    "other": "Other reason",
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


def charts_of(board: core.Dashboard) -> dict[str, Markup]:
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
