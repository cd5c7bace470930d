"""An HSDS tabular data package as tables: a zip or a folder of CSV files (with or without
``datapackage.json``; the CSV files may sit in one nested folder, and ``__MACOSX`` is skipped).

Real 211 exports are read as they come: a UTF-8 byte order mark, CRLF line ends, headers in any
case with spaces ("Service ID" is ``service_id``), extra columns, empty optional files. Text that
is not UTF-8 is read as Windows-1252 (what spreadsheet exports on Windows write) with a warning.
Each row keeps its line number for problems ("services.csv row 7": the header is row 1). Tables are
read row by row as the reader joins them, never held whole as bytes, text or rows (but for the
1.x/2.x renames)."""

from __future__ import annotations

import codecs
import contextlib
import csv
import functools
import io
import re
import zipfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

from gateway.errors import InputInvalid, Issue
from gateway.formats.hsds_common import WARNING, Problem

Row = dict[str, str]
_HEADER = re.compile(r"[^a-z0-9]+")
MAX_FILES = 200
_SHARED = 24  # values up to this long are shared between rows
_CHUNK = 1 << 20


Reader = Callable[[list[Problem]], Iterator[tuple[int, Row]]]


@dataclass(kw_only=True)
class Package:
    """A package's tables: each read row by row from its file when asked (a 50,000-service
    package held whole took 270 MB), or held whole once ``read_all`` (the 1.x/2.x renames)."""

    name: str
    sources: dict[str, Reader] = field(default_factory=dict)  # file stem -> its rows, read again on each call
    tables: dict[str, list[tuple[int, Row]]] = field(default_factory=dict)  # file stem -> (row no, row)
    problems: list[Problem] = field(default_factory=list)
    descriptor: bytes = b""  # datapackage.json when present

    def rows(self, *names: str) -> Iterator[tuple[str, int, Row]]:
        """The rows of the first of ``names`` the package has, with the file name for problems."""
        for name in names:
            if name in self.tables:
                yield from ((f"{name}.csv", number, row) for number, row in self.tables[name])
                return
            if name in self.sources:
                yield from ((f"{name}.csv", number, row) for number, row in self.sources[name](self.problems))
                return

    def has(self, *names: str) -> bool:
        return any(name in self.tables or name in self.sources for name in names)

    def read_all(self) -> None:
        """Every table held whole (what the 1.x/2.x renames work on)."""
        for name, reader in self.sources.items():
            self.tables.setdefault(name, list(reader(self.problems)))
        self.sources.clear()


def header(name: str) -> str:
    return _HEADER.sub("_", name.replace("\ufeff", "").strip().lower()).strip("_")


def read_package(path: Path) -> Package:
    package = Package(name=path.name)
    openers = _zip_members(path) if path.is_file() else _folder_members(path)
    for name, opener in openers:
        stem = PurePosixPath(name).name
        if stem.lower() == "datapackage.json":
            with opener() as stream:
                package.descriptor = stream.read()
        elif stem.lower().endswith(".csv"):
            package.sources[header(stem[: -len(".csv")])] = _reader(opener, stem, path.name)
    if not package.sources:
        raise InputInvalid(
            f"{path.name} holds no HSDS tables",
            [Issue(path=path.name, message="give a zip or folder of HSDS CSV files (services.csv, ...)")],
        )
    return package


Opener = Callable[[], AbstractContextManager[IO[bytes]]]


def _zip_members(path: Path) -> list[tuple[str, Opener]]:
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if _wanted(n)]
    except (zipfile.BadZipFile, OSError) as exc:
        raise _unzippable(path.name, exc) from None
    return [(n, functools.partial(_zip_member, path, n)) for n in names[:MAX_FILES]]


@contextlib.contextmanager
def _zip_member(path: Path, name: str) -> Iterator[IO[bytes]]:
    """One member, opened from the archive for as long as its rows are read."""
    try:
        with zipfile.ZipFile(path) as archive, archive.open(name) as stream:
            yield stream
    except (zipfile.BadZipFile, OSError) as exc:
        raise _unzippable(path.name, exc) from None


def _unzippable(name: str, exc: Exception) -> InputInvalid:
    return InputInvalid(
        f"{name} cannot be read as a zip",
        [Issue(path=name, message=f"{type(exc).__name__}; zip the package again (deflate)")],
    )


def _folder_members(path: Path) -> list[tuple[str, Opener]]:
    found = [p for p in sorted(path.rglob("*")) if p.is_file() and _wanted(p.relative_to(path).as_posix())]
    return [(p.relative_to(path).as_posix(), functools.partial(_file, p)) for p in found[:MAX_FILES]]


def _file(path: Path) -> IO[bytes]:
    return path.open("rb")


def _wanted(name: str) -> bool:
    parts = PurePosixPath(name).parts
    if any(part.startswith(("__MACOSX", ".")) for part in parts):
        return False
    return name.lower().endswith((".csv", "datapackage.json"))


def _reader(opener: Opener, name: str, package: str) -> Reader:
    def rows(problems: list[Problem]) -> Iterator[tuple[int, Row]]:
        encoding = _encoding(opener, name, problems)
        with opener() as raw, io.TextIOWrapper(raw, encoding=encoding, errors="replace", newline="") as text:
            yield from _rows(csv.reader(text), name, problems)

    return rows


def _encoding(opener: Opener, name: str, problems: list[Problem]) -> str:
    """UTF-8 (a byte order mark skipped) when the whole file is, else Windows-1252 (what
    spreadsheet exports on Windows write) with a warning; checked in chunks, never held whole."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with opener() as raw:
            while chunk := raw.read(_CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        problems.append(
            Problem(
                where=name,
                severity=WARNING,
                message="not UTF-8: read as Windows-1252; export the file as UTF-8",
            )
        )
        return "cp1252"
    return "utf-8-sig"


def _rows(reader: Iterator[list[str]], name: str, problems: list[Problem]) -> Iterator[tuple[int, Row]]:
    try:
        names = [header(h) for h in next(reader)]
    except StopIteration:
        return  # an empty optional file
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
        yield number, {k: common.setdefault(v, v) if len(v) <= _SHARED else v for k, v in row.items()}
