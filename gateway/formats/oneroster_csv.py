"""OneRoster 1.1 / 1.2 CSV bundles (a zip): manifest-driven, headers matched by name.

The payload is a zip with ``manifest.csv`` and one CSV per file type at its root. What the
parser guarantees:

- **Manifest first.** ``oneroster.version`` (1.1 or 1.2) picks the column specs; each
  ``file.<name>`` is ``absent``, ``bulk`` or ``delta``. A missing or unreadable manifest, a
  declared file that is not in the zip, a missing required column or a header naming a column
  twice rejects the whole bundle, every problem listed at once.
- **Tolerant reading.** UTF-8 with or without BOM, CRLF or LF, no final newline, columns in
  any order. Extension columns (``metadata.*``, ``ext_*``, unknown) are left out of the records,
  with a note. A row with MORE fields than the header keeps its named fields and the unnamed
  extra fields are ignored with a note naming file, line and field numbers (the Grand Bend
  sample has two such rows: a trailing empty field, and a stray value past the last column).
  A row with FEWER fields is rejected: its columns cannot be told apart.
- **Per-row problems** name file, line and column; a rejected row yields no record.
- **Records**: ``entity`` is the file stem; ``data`` is the row's non-empty defined cells by
  column name (an empty CSV cell and a missing one cannot be told apart). Rows that do not
  speak of a student are records of ``nonstudent-users`` / ``nonstudent-enrollments``
  (1.1 ``role``; 1.2 ``roles.csv``), a family user naming students is one ``family-users``
  record per student (``oneroster_family``), and ``delta`` rows marked ``tobedeleted`` / ``inactive`` are
  records of ``deactivations`` (applied as retractions by ``gateway.service.exchange.oneroster``).
  A student's enrollment carries its class and course (``_class``); a result its line item
  (``_lineItem``) and where its score sits in the line item's range (``_scorePercent``, 0-100),
  when those are in the bundle. Digests therefore depend only on the row and
  what it references, never on where in the file it stands.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from gateway.core.limits import text_problem
from gateway.errors import InputInvalid, Issue
from gateway.formats.oneroster_family import (
    ANY_STUDENT,
    FAMILY_ROLES,
    FAMILY_USERS,
    agents,
    family_records,
    family_role,
    pairs_of,
)
from gateway.formats.oneroster_leniency import (
    EXTENSION_RULE,
    EXTRA_FIELDS_RULE,
    ReadWarning,
    Tally,
    read_cells,
    read_header,
)
from gateway.formats.oneroster_manifest import read_manifest
from gateway.formats.oneroster_rows import row_issues, score_percent
from gateway.formats.oneroster_tables import DEACTIVATING, PERSON_ORDER, REFERENCE_ORDER, SPECS, FileSpec
from gateway.formats.oneroster_zip import (
    UNREADABLE_HEADER,
    encoding_of,
    header_row,
    open_text,
    open_zip,
    readable,
    root_prefix,
)
from gateway.formats.records import RecordProblem, SourceRecord, record

StreamItem = SourceRecord | RecordProblem
DEACTIVATIONS = "deactivations"
NONSTUDENT = "nonstudent-"


@dataclass(kw_only=True)
class BundleInfo:
    """What the sync needs beyond the records: modes, ids seen per file, notes."""

    version: str = ""
    modes: dict[str, str] = field(default_factory=dict)
    seen: dict[str, set[str]] = field(default_factory=dict)  # every row's sourcedId, valid or not
    deactivated: dict[str, set[str]] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    notes: list[Issue] = field(default_factory=list)
    tally: Tally = field(default_factory=Tally)

    @property
    def warnings(self) -> tuple[ReadWarning, ...]:
        return self.tally.warnings()


@dataclass(frozen=True, kw_only=True)
class _Row:
    line: int
    cells: dict[str, str]
    problems: tuple[Issue, ...]


def iter_records(stream: BinaryIO, entity: str | None = None) -> Iterator[StreamItem]:
    """The stream parser registered as ``oneroster-csv``."""
    return Bundle(stream).items()


def read_bundle(payload: bytes) -> tuple[BundleInfo, list[StreamItem]]:
    bundle = Bundle(io.BytesIO(payload))
    items = list(bundle.items())
    return bundle.info, items


def inspect_bundle(payload: bytes) -> BundleInfo:
    """The bundle's modes, ids and notes, reading it through without keeping its records."""
    bundle = Bundle(io.BytesIO(payload))
    for _ in bundle.items():
        pass
    return bundle.info


class Bundle:
    def __init__(self, stream: BinaryIO) -> None:
        self.info = BundleInfo()
        self.zip = open_zip(stream)
        self.prefix = root_prefix(self.zip)
        if self.prefix:
            self.info.notes.append(
                Issue(path=self.prefix, message="bundle read from the zip's single top folder")
            )
        self.specs: dict[str, FileSpec] = {}
        self.headers: dict[str, list[str]] = {}
        self.encodings: dict[str, str] = {}
        self.reference: dict[str, dict[str, dict[str, str]]] = {}
        self.student_ids: set[str] = set()
        self.family_roles: dict[str, str] = {}  # 1.2: user -> parent | guardian | relative

    def items(self) -> Iterator[StreamItem]:
        self._read_manifest()
        self._check_headers()
        for stem in REFERENCE_ORDER:
            yield from self._file(stem, keep=True)
        for stem in PERSON_ORDER:
            yield from self._file(stem, keep=False)

    # -- manifest and headers: whole-bundle problems, all raised at once ---------------------

    def _read_manifest(self) -> None:
        manifest = read_manifest(self.zip, self.prefix, self.info.tally)
        self.info.version, self.info.modes = manifest.version, manifest.modes

    def _check_headers(self) -> None:
        specs = SPECS[self.info.version]
        present = {n[len(self.prefix) :] for n in self.zip.namelist() if n.startswith(self.prefix)}
        issues: list[Issue] = []
        for stem, mode in sorted(self.info.modes.items()):
            fname = f"{stem}.csv"
            if mode == "absent" or stem not in specs:
                if fname in present:
                    why = "declared absent" if mode == "absent" else "not used by the gateway"
                    self.info.notes.append(Issue(path=fname, message=f"{why}; the file is ignored"))
                continue
            if fname not in present:
                issues.append(
                    Issue(path=fname, message=f"declared {mode} in manifest.csv but not in the zip")
                )
                continue
            with readable(fname):
                header = self._header(stem, specs[stem], fname)
            issues.extend(_header_issues(specs[stem], header, fname))
            self.specs[stem], self.headers[stem] = specs[stem], header
            for name in header:
                if name not in specs[stem].columns:
                    self.info.tally.declare(fname, name, EXTENSION_RULE)
        for fname in sorted(present - {f"{s}.csv" for s in self.info.modes} - {"manifest.csv"}):
            if fname.endswith(".csv"):
                self.info.notes.append(Issue(path=fname, message="not declared in manifest.csv; ignored"))
        if issues:
            raise InputInvalid("the OneRoster bundle's files do not match the manifest", issues)

    def _header(self, stem: str, spec: FileSpec, fname: str) -> list[str]:
        encoding, rule = encoding_of(self.zip, self.prefix + fname)
        self.encodings[stem] = encoding
        if rule is not None:
            self.info.tally.add(fname, None, rule)
        raw = header_row(self.zip, self.prefix + fname, encoding)
        return raw if raw == UNREADABLE_HEADER else read_header(spec, raw, self.info.tally, fname)

    # -- rows --------------------------------------------------------------------------------

    def _file(self, stem: str, *, keep: bool) -> Iterator[StreamItem]:
        spec = self.specs.get(stem)
        if spec is None:
            return
        fname, mode = f"{stem}.csv", self.info.modes[stem]
        seen = self.info.seen.setdefault(stem, set())
        kept = self.reference.setdefault(stem, {})
        for row in self._rows(stem, spec, fname):
            self.info.rows[stem] = self.info.rows.get(stem, 0) + 1
            source_id = row.cells.get("sourcedId")
            if source_id:
                seen.add(source_id)
            where = f"{fname} line {row.line}"
            if row.problems:
                if stem == "users" and source_id:  # a rejected row never removes a guardian link
                    self.info.seen.setdefault(FAMILY_USERS, set()).add(f"{source_id}|{ANY_STUDENT}")
                yield RecordProblem(location=where, issues=row.problems)
                continue
            if mode == "delta" and row.cells.get("status") in DEACTIVATING:
                self.info.deactivated.setdefault(stem, set()).add(row.cells["sourcedId"])
                yield record(DEACTIVATIONS, where, {"file": stem, **row.cells})
                continue
            if keep:
                kept[row.cells["sourcedId"]] = row.cells
                self._note_role(stem, row.cells)
            entity = self._entity(stem, row.cells)
            if entity == FAMILY_USERS:
                self.info.seen.setdefault(FAMILY_USERS, set()).update(pairs_of(row.cells))
                yield from family_records(where, row.cells, family_role(row.cells, self.family_roles) or "")
                continue
            yield record(entity, where, self._joined(stem, row.cells))

    def _rows(self, stem: str, spec: FileSpec, fname: str) -> Iterator[_Row]:
        with readable(fname):
            yield from self._read_rows(stem, spec, fname)

    def _read_rows(self, stem: str, spec: FileSpec, fname: str) -> Iterator[_Row]:
        header = self.headers[stem]
        extended = not set(header) <= set(spec.columns)  # extension columns: their values are counted
        stream = open_text(self.zip, self.prefix + fname, self.encodings[stem])
        reader = csv.reader(stream)
        last = 1
        try:
            next(reader)
            last = reader.line_num
            for fields in reader:
                line, last = last + 1, reader.line_num
                if fields:
                    yield self._row(spec, header, fields, fname, line, extended=extended)
        except UnicodeDecodeError:
            issue = Issue(
                path=f"{fname} line {last + 1}",
                message="not UTF-8 text at or after this line; re-encode the file as UTF-8",
            )
            yield _Row(line=last + 1, cells={}, problems=(issue,))
        except csv.Error as exc:
            issue = Issue(path=f"{fname} line {reader.line_num}", message=f"not valid CSV ({exc})")
            yield _Row(line=reader.line_num, cells={}, problems=(issue,))

    def _row(
        self, spec: FileSpec, header: list[str], fields: list[str], fname: str, line: int, *, extended: bool
    ) -> _Row:
        where = f"{fname} line {line}"
        if len(fields) < len(header):
            issue = Issue(
                path=where,
                message=f"{len(fields)} fields for {len(header)} header columns; the columns cannot be "
                "told apart, fix the row (quote values that contain commas)",
            )
            return _Row(line=line, cells={}, problems=(issue,))
        if len(fields) > len(header):
            self.info.tally.add(fname, None, EXTRA_FIELDS_RULE, line)
        pairs = zip(header, fields, strict=False)
        cells = {h: v.strip() for h, v in pairs if h in spec.columns and v.strip()}
        if extended:
            for name, value in zip(header, fields, strict=False):
                if name not in spec.columns and value.strip():
                    self.info.tally.add(fname, name, EXTENSION_RULE, line)
        read_cells(spec, cells, self.info.tally, fname, line)
        problems = [*_text_issues(cells, where), *row_issues(spec, cells, where)]
        return _Row(line=line, cells=cells, problems=tuple(problems))

    # -- classification and joins -----------------------------------------------------------

    def _note_role(self, stem: str, cells: dict[str, str]) -> None:
        if stem == "roles" and cells.get("role") == "student":
            self.student_ids.add(cells["userSourcedId"])
        if stem == "roles" and cells.get("role") in FAMILY_ROLES:
            user = cells["userSourcedId"]
            if cells.get("roleType") == "primary" or user not in self.family_roles:
                self.family_roles[user] = cells["role"]

    def _entity(self, stem: str, cells: dict[str, str]) -> str:
        if stem == "users":
            student = (
                cells.get("role") == "student"
                if self.info.version == "1.1"
                else cells["sourcedId"] in self.student_ids
            )
            if student:
                return stem
            family = family_role(cells, self.family_roles) and agents(cells)
            return FAMILY_USERS if family else NONSTUDENT + stem
        if stem == "enrollments" and cells.get("role") != "student":
            return NONSTUDENT + stem
        return stem

    def _joined(self, stem: str, cells: dict[str, str]) -> dict[str, Any]:
        if stem == "enrollments":
            return self._with_class(cells)
        if stem == "results":
            return self._with_line_item(cells)
        return cells

    def _with_class(self, cells: dict[str, str]) -> dict[str, Any]:
        cls = self.reference.get("classes", {}).get(cells["classSourcedId"])
        if cls is None:
            return cells
        course = self.reference.get("courses", {}).get(cls["courseSourcedId"], {})
        joined = {
            "title": cls["title"],
            "classCode": cls.get("classCode"),
            "subjects": cls.get("subjects"),
            "courseTitle": course.get("title"),
            "courseCode": course.get("courseCode"),
        }
        return {**cells, "_class": {k: v for k, v in joined.items() if v}}

    def _with_line_item(self, cells: dict[str, str]) -> dict[str, Any]:
        item = self.reference.get("lineItems", {}).get(cells["lineItemSourcedId"])
        if item is None:
            return cells
        category = self.reference.get("categories", {}).get(item.get("categorySourcedId", ""), {})
        joined = {
            "title": item["title"],
            "classSourcedId": item.get("classSourcedId"),
            "category": category.get("title"),
            "resultValueMin": item.get("resultValueMin"),
            "resultValueMax": item.get("resultValueMax"),
        }
        out: dict[str, Any] = {**cells, "_lineItem": {k: v for k, v in joined.items() if v}}
        low, high = item.get("resultValueMin"), item.get("resultValueMax")
        percent = score_percent(cells.get("score", ""), low or "", high or "")
        if percent is not None:
            out["_scorePercent"] = percent
        return out


def _text_issues(cells: dict[str, str], where: str) -> Iterator[Issue]:
    """Cells are held to the edge limits (``core.limits``): storable text, bounded length."""
    for column, value in cells.items():
        problem = text_problem(value)
        if problem:
            yield Issue(path=f"{where} column {column}", message=f"this cell {problem}")


def _header_issues(spec: FileSpec, header: list[str], fname: str) -> list[Issue]:
    if header == UNREADABLE_HEADER:
        return [Issue(path=f"{fname} line 1", message="the header is not UTF-8 CSV; re-encode as UTF-8")]
    issues = [
        Issue(path=f"{fname} line 1 column {c}", message="required column is missing from the header")
        for c in spec.required
        if c not in header
    ]
    dups = sorted({h for h in header if h and header.count(h) > 1})
    issues.extend(Issue(path=f"{fname} line 1 column {h}", message="column named twice") for h in dups)
    return issues
