"""OneRoster as real systems write it: what is read although the binding says otherwise, and the
warnings that say so, counted per file and column (never one per row).

The CSV binding asks for ``true``/``false``, enumeration values as the spec spells them, dates
``YYYY-MM-DD`` and headers exactly as named. Exporters write ``TRUE``, ``1`` or ``yes``,
``Scheduled`` or ``ACTIVE``, ``2024-09-01T00:00:00Z`` in a date column and ``SourcedId``. Each of
those has exactly one reading, so it is read, and a ``ReadWarning`` (file, column, rule, count)
tells the sender which rule was applied how often. What has more than one reading (``9/1/2024``,
``maybe``, an unknown enumeration value) is left as written for ``oneroster_rows`` to reject.

Rules name vocabulary tokens (``TRUE``, ``Scheduled``), never a person's value: a date-time is
reported as "date-time read as its date", not with the date.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from gateway.core.limits import shown
from gateway.formats.oneroster_tables import GRADES, STATUSES, FileSpec

_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})
# A date column holding an ISO 8601 date-time (T or space separated, any zone): its date is read.
_DATE_TIME = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9:]{2,5})?"
)
_LINES_KEPT = 5  # example line numbers per warning: enough to find the rows, never the whole file
DATE_TIME_RULE = "date-time read as its date (the time is dropped)"
EXTENSION_RULE = "extension column ignored (values not read)"
EXTRA_FIELDS_RULE = "fields past the last header column ignored"


@dataclass(frozen=True, kw_only=True)
class ReadWarning:
    """A reading rule applied ``count`` times in one file (or REST collection) and column."""

    file: str
    column: str | None
    rule: str
    count: int
    lines: tuple[int, ...] = ()  # the first few lines (CSV) or item indexes (REST) it applied to

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "column": self.column,
            "rule": self.rule,
            "count": self.count,
            "lines": list(self.lines),
        }


@dataclass
class _Count:
    count: int = 0
    lines: list[int] = field(default_factory=list)


class Tally:
    """Warnings as they are met: one entry per (file, column, rule), in first-met order."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str | None, str], _Count] = {}

    def add(self, file: str, column: str | None, rule: str, line: int | None = None, count: int = 1) -> None:
        entry = self._counts.setdefault((file, column, rule), _Count())
        entry.count += count
        if line is not None and len(entry.lines) < _LINES_KEPT and line not in entry.lines:
            entry.lines.append(line)

    def declare(self, file: str, column: str | None, rule: str) -> None:
        """A warning that stands even at count 0 (an extension column nobody filled in)."""
        self._counts.setdefault((file, column, rule), _Count())

    def merge(self, warnings: Iterable[ReadWarning]) -> None:
        for w in warnings:
            entry = self._counts.setdefault((w.file, w.column, w.rule), _Count())
            entry.count += w.count
            entry.lines.extend(n for n in w.lines if n not in entry.lines)
            del entry.lines[_LINES_KEPT:]

    def warnings(self) -> tuple[ReadWarning, ...]:
        return tuple(
            ReadWarning(file=f, column=c, rule=r, count=v.count, lines=tuple(v.lines))
            for (f, c, r), v in self._counts.items()
        )


# -- values ---------------------------------------------------------------------------------------


Reader = Callable[[str], tuple[str, str | None]]


def read_cells(spec: FileSpec, cells: dict[str, str], tally: Tally, file: str, line: int) -> dict[str, str]:
    """The row's cells with every unambiguous spelling read as the binding's (in place, and
    returned); each rule applied counted in ``tally``."""
    for column, reader in readers(spec).items():
        value = cells.get(column)
        if value is None:
            continue
        read, rule = reader(value)
        if rule is not None:
            tally.add(file, column, rule, line)
            cells[column] = read
    return cells


@functools.cache
def readers(spec: FileSpec) -> dict[str, Reader]:
    """The columns of ``spec`` that have a lenient reading, with their reader (computed once)."""
    found: dict[str, Reader] = {"status": functools.partial(_enum, allowed=STATUSES)}
    for column in spec.columns:
        allowed = spec.enum(column)
        if allowed is not None:
            found[column] = functools.partial(_enum, allowed=allowed)
        elif column in spec.booleans:
            found[column] = _boolean
        elif column in spec.dates:
            found[column] = _date
        elif column == "grades":
            found[column] = _grades
    return found


def read_enum(value: str, allowed: tuple[str, ...]) -> tuple[str, str | None]:
    """An enumeration value in another case (or with doubled spaces) read as the one it names."""
    return _enum(value, allowed)


def _enum(value: str, allowed: tuple[str, ...]) -> tuple[str, str | None]:
    if value in allowed:
        return value, None
    folded = " ".join(value.split()).casefold()
    match = [a for a in allowed if a.casefold() == folded]
    if len(match) != 1:
        return value, None  # unknown: rejected by the row check, with the allowed values
    return match[0], f"{shown(value, 40)} read as {match[0]}"


def _boolean(value: str) -> tuple[str, str | None]:
    if value in ("true", "false"):
        return value, None
    low = value.casefold()
    read = "true" if low in _TRUE else "false" if low in _FALSE else None
    if read is None:
        return value, None
    return read, f"boolean {shown(value, 10)} read as {read}"


def _date(value: str) -> tuple[str, str | None]:
    found = _DATE_TIME.fullmatch(value)
    if found is None:
        return value, None
    return found.group(1), DATE_TIME_RULE


GRADE_PADDED_RULE = "single-digit grade read with its leading zero (CEDS code)"
GRADE_CASE_RULE = "grade code in another case read as the CEDS code"


def _grades(value: str) -> tuple[str, str | None]:
    """CEDS grade codes: ``9`` is ``09``, ``kg`` is ``KG``; a list keeps its order. A code the
    list does not know stays as written (the mapping's crosswalk says it has no display)."""
    parts = value.split(",")
    read = [_grade(p.strip()) for p in parts]
    rules = sorted({rule for _, rule in read if rule is not None})
    if not rules:
        return value, None
    return ",".join(code for code, _ in read), " and ".join(rules)


def _grade(code: str) -> tuple[str, str | None]:
    if code in GRADES:
        return code, None
    if code.isdigit() and len(code) == 1 and code != "0":
        return "0" + code, GRADE_PADDED_RULE
    match = [g for g in GRADES if g.casefold() == code.casefold()]
    return (match[0], GRADE_CASE_RULE) if len(match) == 1 else (code, None)


# -- headers --------------------------------------------------------------------------------------


def read_header(spec: FileSpec, header: list[str], tally: Tally, file: str) -> list[str]:
    """Header names as the binding spells them: surrounding spaces dropped, case folded to the
    one defined column it names. An unknown name stays as written (an extension column)."""
    by_fold: dict[str, str] = {c.casefold(): c for c in spec.columns}
    out: list[str] = []
    for raw in header:
        name = raw.strip()
        if name != raw:
            tally.add(file, name, f"header {shown(raw, 40)!r} read without its spaces", 1)
        if name not in spec.columns and name.casefold() in by_fold:
            canonical = by_fold[name.casefold()]
            tally.add(file, canonical, f"header {shown(name, 40)} read as {canonical}", 1)
            name = canonical
        out.append(name)
    return out
