"""Checks of one OneRoster CSV row against its file's spec: every problem of the row, each with
file, line and column (``users.csv line 12 column birthDate``). Values never enter a message."""

from __future__ import annotations

import datetime as dt
import re

from gateway.errors import Issue
from gateway.formats.oneroster_tables import STATUSES, FileSpec

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")
_BOOLEANS = ("true", "false")


def row_issues(spec: FileSpec, row: dict[str, str], where: str, sep: str = " column ") -> list[Issue]:
    """``row`` holds the row's defined, non-empty cells by column name; ``sep`` joins location
    and column (``users.csv line 12 column birthDate``, ``$.users[3].birthDate``)."""
    issues = [
        Issue(path=f"{where}{sep}{c}", message="required; fill it in") for c in spec.required if c not in row
    ]
    for column, value in row.items():
        problem = _value_problem(spec, column, value)
        if problem:
            issues.append(Issue(path=f"{where}{sep}{column}", message=problem))
    return issues


def _value_problem(spec: FileSpec, column: str, value: str) -> str | None:
    if column == "status":
        return (
            None if value in STATUSES else f"must be one of {', '.join(STATUSES)} (or blank in a bulk file)"
        )
    if column == "dateLastModified":
        return _datetime_problem(value)
    allowed = spec.enum(column)
    if allowed is not None and value not in allowed:
        return f"not a known value; one of {', '.join(allowed)}"
    if column in spec.dates:
        return _date_problem(value)
    if column in spec.booleans and value not in _BOOLEANS:
        return "must be true or false"
    if column in spec.numbers and not _NUMBER.fullmatch(value):
        return "must be a decimal number"
    return None


def _date_problem(value: str) -> str | None:
    if not _DATE.fullmatch(value):
        return "must be a date YYYY-MM-DD"
    try:
        parsed = dt.date.fromisoformat(value)
    except ValueError:
        return "not a calendar date"
    return _year_problem(parsed.year)


def _datetime_problem(value: str) -> str | None:
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return "must be an ISO 8601 date-time (e.g. 2024-09-01T12:00:00Z)"
    return _year_problem(parsed.year)


def _year_problem(year: int) -> str | None:
    return None if 1900 <= year <= 2100 else "the year is outside 1900-2100"


def score_percent(score: str, low: str, high: str) -> int | None:
    """Where a score sits in its line item's range, 0-100 (clamped); None when it cannot be said."""
    if not all(_NUMBER.fullmatch(v) for v in (score, low, high)):
        return None
    lo, hi = float(low), float(high)
    if hi <= lo:
        return None
    percent = (float(score) - lo) / (hi - lo) * 100
    return max(0, min(100, int(percent)))
