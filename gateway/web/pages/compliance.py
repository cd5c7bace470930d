"""The compliance officer's pages (issue 15 section 2): the dashboard, its drill-downs to audit
entries with their verification status, a student's accounting of disclosures, and CSV exports.

Thin views over gateway/service/views/compliance_dashboard.py and
gateway/service/compliance/accounting.py (each read and export audited there). Charts are SVG
rendered here by pygal with no script and nothing fetched, each with a title, a description and a
table of the same numbers beside it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlencode

from flask import Response, redirect, request

from gateway.core import accounting as accounting_core
from gateway.core import dashboard as core
from gateway.core.people import COMPLIANCE
from gateway.errors import InputInvalid, Issue
from gateway.service.compliance.accounting import accounting_for
from gateway.service.identity.people import audit_reader_for
from gateway.service.views import compliance_dashboard as service
from gateway.web.auth import current_runtime
from gateway.web.pages.common import make_blueprint, render_page, requires_role, signed_in_person
from gateway.web.pages.compliance_charts import REASON_WORDS, charts_of, flow_layout

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
        charts=charts_of(board),
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

STATUS_WORDS = {
    core.VERIFIED: ("✓", "Verified: intact and covered by a signed tree head"),
    core.UNSIGNED: ("…", "Intact, not yet covered by a signed tree head"),
    core.UNPROVEN: ("?", "Intact, but no signed head covering it checks out"),
    core.BROKEN: ("✗", "Broken: edited, moved or unlinked"),
}
