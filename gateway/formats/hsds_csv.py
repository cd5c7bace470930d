"""An HSDS tabular data package as tables: a zip or a folder of CSV files (with or without
``datapackage.json``; the CSV files may sit in one nested folder, and ``__MACOSX`` is skipped).

Real 211 exports are read as they come: a UTF-8 byte order mark, CRLF line ends, headers in any
case with spaces ("Service ID" is ``service_id``), extra columns, empty optional files. Text that
is not UTF-8 is read as Windows-1252 (what spreadsheet exports on Windows write) with a warning.
Each row keeps its line number for problems ("services.csv row 7": the header is row 1)."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from gateway.errors import InputInvalid, Issue
from gateway.formats.hsds_common import WARNING, Problem

Row = dict[str, str]
_HEADER = re.compile(r"[^a-z0-9]+")
MAX_FILES = 200
_SHARED = 24  # values up to this long are shared between rows


@dataclass(kw_only=True)
class Package:
    name: str
    tables: dict[str, list[tuple[int, Row]]] = field(default_factory=dict)  # file stem -> (row no, row)
    problems: list[Problem] = field(default_factory=list)
    descriptor: bytes = b""  # datapackage.json when present

    def rows(self, *names: str) -> list[tuple[str, int, Row]]:
        """The rows of the first of ``names`` the package has, with the file name for problems."""
        for name in names:
            if name in self.tables:
                return [(f"{name}.csv", number, row) for number, row in self.tables[name]]
        return []

    def has(self, *names: str) -> bool:
        return any(name in self.tables for name in names)


def header(name: str) -> str:
    return _HEADER.sub("_", name.replace("\ufeff", "").strip().lower()).strip("_")


def read_package(path: Path) -> Package:
    members = _zip_members(path) if path.is_file() else _folder_members(path)
    package = Package(name=path.name)
    for name, data in members:
        stem = PurePosixPath(name).name
        if stem.lower() == "datapackage.json":
            package.descriptor = data
        elif stem.lower().endswith(".csv"):
            table = header(stem[: -len(".csv")])
            package.tables[table] = _rows(data, stem, package.problems)
    if not package.tables:
        raise InputInvalid(
            f"{path.name} holds no HSDS tables",
            [Issue(path=path.name, message="give a zip or folder of HSDS CSV files (services.csv, ...)")],
        )
    return package


def _zip_members(path: Path) -> list[tuple[str, bytes]]:
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if _wanted(n)]
            return [(n, archive.read(n)) for n in names[:MAX_FILES]]
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputInvalid(
            f"{path.name} cannot be read as a zip",
            [Issue(path=path.name, message=f"{type(exc).__name__}; zip the package again (deflate)")],
        ) from None


def _folder_members(path: Path) -> list[tuple[str, bytes]]:
    found = [p for p in sorted(path.rglob("*")) if p.is_file() and _wanted(p.relative_to(path).as_posix())]
    return [(p.relative_to(path).as_posix(), p.read_bytes()) for p in found[:MAX_FILES]]


def _wanted(name: str) -> bool:
    parts = PurePosixPath(name).parts
    if any(part.startswith(("__MACOSX", ".")) for part in parts):
        return False
    return name.lower().endswith((".csv", "datapackage.json"))


def _decode(data: bytes, name: str, problems: list[Problem]) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        problems.append(
            Problem(
                where=name,
                severity=WARNING,
                message="not UTF-8: read as Windows-1252; export the file as UTF-8",
            )
        )
        return data.decode("cp1252", errors="replace")


def _rows(data: bytes, name: str, problems: list[Problem]) -> list[tuple[int, Row]]:
    reader = csv.reader(io.StringIO(_decode(data, name, problems), newline=""))
    try:
        names = [header(h) for h in next(reader)]
    except StopIteration:
        return []  # an empty optional file
    rows = []
    # Short values repeat down a column (statuses, days, hours, cities): one string for each
    # (a 50,000-service package held a million copies of a few hundred values).
    common: dict[str, str] = {}
    for number, values in enumerate(reader, start=2):  # the header is row 1
        if not any(v.strip() for v in values):
            continue
        if len(values) > len(names):
            problems.append(
                Problem(
                    where=f"{name} row {number}",
                    severity=WARNING,
                    message="more values than headers; the extra values were ignored",
                )
            )
        row = {k: v.strip() for k, v in zip(names, values, strict=False) if k}
        rows.append(
            (number, {k: common.setdefault(v, v) if len(v) <= _SHARED else v for k, v in row.items()})
        )
    return rows
