"""GTFS static feeds as agencies really publish them: a zip or a folder, the files at the top or
in one nested folder (a zip made on a Mac adds ``__MACOSX/``), UTF-8 with or without a byte order
mark, CRLF or LF, header names with stray spaces, values padded with spaces, extra columns,
optional files absent. Rows are streamed (a feed's stop_times.txt has millions of rows): nothing
here reads a whole file into memory.

``rows(name)`` yields ``(line, {column: value})`` with columns lower-cased and every value
stripped; a short row reads its missing columns as "". What a row means is gtfs_rows' business."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from gateway.errors import InputInvalid, Issue

REQUIRED = ("agency.txt", "stops.txt", "routes.txt", "trips.txt", "stop_times.txt")
CALENDARS = ("calendar.txt", "calendar_dates.txt")  # at least one of the two


@dataclass(frozen=True, kw_only=True)
class Problem:
    """A row (or file) that did not land, and why. ``line`` is the file's line number (1 is the
    header; 0 means the whole file)."""

    file: str
    line: int
    message: str

    def to_dict(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "message": self.message}


class GtfsSource:
    """An open feed: a zip file or a folder. Use as a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        self._members: dict[str, str] = {}  # file name -> member name or path
        self.problems: list[Problem] = []  # whole-file problems met while reading
        if path.is_dir():
            self._members = _folder_members(path)
        elif zipfile.is_zipfile(path):
            self._zip = zipfile.ZipFile(path)
            self._members = _zip_members(self._zip)
        else:
            raise InputInvalid(
                "not a GTFS feed",
                [Issue(path=str(path), message="give a GTFS zip file or a folder of its .txt files")],
            )

    def __enter__(self) -> GtfsSource:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._zip is not None:
            self._zip.close()

    def has(self, name: str) -> bool:
        return name in self._members

    def check(self) -> None:
        """Refuse a feed that lacks a required file, naming every missing one."""
        missing = [name for name in REQUIRED if not self.has(name)]
        if not any(self.has(name) for name in CALENDARS):
            missing.append(" or ".join(CALENDARS))
        if missing:
            raise InputInvalid(
                "the GTFS feed lacks required files",
                [Issue(path=f"{self.path}/{name}", message="required by GTFS; add it") for name in missing],
            )

    def size(self, name: str) -> int:
        member = self._members[name]
        if self._zip is not None:
            return self._zip.getinfo(member).file_size
        return Path(member).stat().st_size

    def rows(self, name: str) -> Iterator[tuple[int, dict[str, str]]]:
        """The file's rows as ``(line, row)``; nothing when the file is absent."""
        if name not in self._members:
            return
        with self._open(name) as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
            reader = csv.reader(text)
            try:
                header = next(reader, None)
            except UnicodeDecodeError:
                header = None
                self.problems.append(Problem(file=name, line=1, message="not UTF-8: save it as UTF-8"))
            if header is None:
                return
            columns = [h.strip().lstrip("\ufeff").lower() for h in header]
            width = len(columns)
            try:
                for cells in reader:
                    if not cells or (len(cells) == 1 and not cells[0].strip()):
                        continue  # a blank line
                    if len(cells) < width:
                        cells = cells + [""] * (width - len(cells))
                    yield reader.line_num, {c: v.strip() for c, v in zip(columns, cells, strict=False)}
            except UnicodeDecodeError:
                # The rows before landed; the rest of this file cannot be read as text.
                message = "not UTF-8 from here on: save the file as UTF-8 and import the feed again"
                self.problems.append(Problem(file=name, line=reader.line_num + 1, message=message))

    def _open(self, name: str) -> IO[bytes]:
        member = self._members[name]
        if self._zip is not None:
            return self._zip.open(member)
        return open(member, "rb")  # closed by the caller's with block


def _wanted(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return base.endswith(".txt") and not base.startswith(".") and not name.startswith("__MACOSX/")


def _zip_members(archive: zipfile.ZipFile) -> dict[str, str]:
    names = [n for n in archive.namelist() if _wanted(n)]
    return _at_shallowest_root(names)


def _folder_members(folder: Path) -> dict[str, str]:
    names = [
        str(p) for p in sorted(folder.rglob("*.txt")) if p.is_file() and _wanted(str(p.relative_to(folder)))
    ]
    return _at_shallowest_root(names)


def _at_shallowest_root(names: list[str]) -> dict[str, str]:
    # The feed's files are in the shallowest folder holding stops.txt (a zip of a folder nests them).
    roots = sorted(
        (n.rpartition("/")[0] for n in names if n.rpartition("/")[2].lower() == "stops.txt"), key=len
    )
    root = roots[0] if roots else ""
    members: dict[str, str] = {}
    for name in names:
        folder, _, base = name.rpartition("/")
        if folder == root:
            members[base.lower()] = name
    return members
