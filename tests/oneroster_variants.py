"""Quirky forms of a clean OneRoster CSV bundle, written as real exporters write them, each with
the warnings a tolerant reader must give for it (file, column, rule -> count).

A variant rewrites the clean bundle's cells, headers, manifest or bytes; the expected warnings
are counted from what the rewrite changed (a cell rewritten is one count), never typed in. The
rule texts are the reader's contract with the sender (``gateway.formats.oneroster_leniency``).
"""

from __future__ import annotations

import codecs
import csv
import io
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gateway.formats.oneroster_leniency import (
    DATE_TIME_RULE,
    EXTENSION_RULE,
    GRADE_PADDED_RULE,
)
from gateway.formats.oneroster_tables import SPECS, FileSpec
from gateway.formats.oneroster_zip import UTF8_BOM_RULE, UTF16_RULE

Key = tuple[str, str | None, str]  # file, column, rule
Table = list[list[str]]  # header row, then data rows


@dataclass(kw_only=True)
class Bundle:
    """A bundle as text tables (manifest included), plus how its files are to be written."""

    version: str
    tables: dict[str, Table]
    encoding: str = "utf-8"
    newline: str = "\n"
    expected: Counter[Key] = field(default_factory=Counter)

    def payload(self) -> dict[str, bytes]:
        return {name: _encode(_csv_text(t, self.newline), self.encoding) for name, t in self.tables.items()}

    def read_files(self) -> list[str]:
        """The files the reader opens: the manifest and each declared file it reads."""
        specs = SPECS[self.version]
        return ["manifest.csv", *(n for n in self.tables if n != "manifest.csv" and n[:-4] in specs)]


def clean(folder: Path) -> Bundle:
    tables = {p.name: _table(p) for p in sorted(folder.glob("*.csv"))}
    version = next(r[1] for r in tables["manifest.csv"] if r[0] == "oneroster.version")
    return Bundle(version=version, tables=tables)


def _table(path: Path) -> Table:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


def _csv_text(table: Table, newline: str) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator=newline).writerows(table)
    return out.getvalue()


def _encode(text: str, encoding: str) -> bytes:
    if encoding == "utf-8-sig":
        return codecs.BOM_UTF8 + text.encode("utf-8")
    return text.encode(encoding)  # "utf-16" writes its byte order mark


# -- rewrites ---------------------------------------------------------------------------------------

Pick = Callable[[FileSpec, str], bool]  # which columns of a file's spec
Change = Callable[[str], str]  # the clean value -> the quirky one
RuleOf = Callable[[str, str], str]  # (clean, quirky) -> the warning rule


def cells(pick: Pick, change: Change, rule_of: RuleOf) -> Callable[[Bundle], None]:
    def rewrite(bundle: Bundle) -> None:
        for name, table in bundle.tables.items():
            spec = SPECS[bundle.version].get(name[:-4])
            if spec is None or name == "manifest.csv":
                continue
            header = table[0]
            for row in table[1:]:
                for i, column in enumerate(header):
                    value = row[i] if i < len(row) else ""
                    if value and pick(spec, column) and (new := change(value)) != value:
                        row[i] = new
                        bundle.expected[(name, column, rule_of(value, new))] += 1

    return rewrite


def booleans(true: str, false: str) -> Callable[[Bundle], None]:
    spelled = {"true": true, "false": false}
    return cells(
        lambda spec, c: c in spec.booleans,
        lambda v: spelled.get(v, v),
        lambda old, new: f"boolean {new} read as {old}",
    )


def enumerations(change: Change) -> Callable[[Bundle], None]:
    return cells(
        lambda spec, c: c == "status" or spec.enum(c) is not None,
        change,
        lambda old, new: f"{new} read as {old}",
    )


def date_times(suffix: str) -> Callable[[Bundle], None]:
    return cells(lambda spec, c: c in spec.dates, lambda v: v + suffix, lambda _o, _n: DATE_TIME_RULE)


def unpadded_grades(bundle: Bundle) -> None:
    cells(
        lambda _s, c: c == "grades",
        lambda v: ",".join(g.removeprefix("0") for g in v.split(",")),
        lambda _o, _n: GRADE_PADDED_RULE,
    )(bundle)


def headers(change: Change, rule_of: RuleOf) -> Callable[[Bundle], None]:
    """The defined columns' names rewritten (extension columns keep theirs)."""

    def rewrite(bundle: Bundle) -> None:
        for name, table in bundle.tables.items():
            spec = SPECS[bundle.version].get(name[:-4])
            if name == "manifest.csv" or spec is None:
                continue
            for i, column in enumerate(table[0]):
                new = change(column)
                if column in spec.columns and new != column:
                    table[0][i] = new
                    bundle.expected[(name, column, rule_of(column, new))] += 1

    return rewrite


def extension_columns(bundle: Bundle) -> None:
    """A vendor column in the middle and a ``metadata.*`` one at the end, filled in every row."""
    for name, table in bundle.tables.items():
        if name == "manifest.csv" or name[:-4] not in SPECS[bundle.version]:
            continue
        table[0][1:1] = ["ext_vendorKey"]
        table[0].append("metadata.lunchProgram")
        for n, row in enumerate(table[1:]):
            row[1:1] = [f"v{n}"]
            row.insert(len(table[0]) - 1, "free")  # a row longer than its header keeps its extra field
        for column in ("ext_vendorKey", "metadata.lunchProgram"):
            bundle.expected[(name, column, EXTENSION_RULE)] += len(table) - 1


def blank_manifest_rows(bundle: Bundle) -> None:
    """Files not sent listed with no mode, and empty rows between the properties."""
    manifest = bundle.tables["manifest.csv"]
    for row in manifest[1:]:
        if row[0].startswith("file.") and row[1] == "absent":
            row[1] = ""
            bundle.expected[("manifest.csv", row[0], "blank processing mode read as absent")] += 1
    manifest[2:2] = [[], ["", ""]]
    manifest.append([])
    bundle.expected[("manifest.csv", None, "row without a property skipped")] += 3


def manifest_modes(change: Change) -> Callable[[Bundle], None]:
    def rewrite(bundle: Bundle) -> None:
        for row in bundle.tables["manifest.csv"][1:]:
            if row[0].startswith("file."):
                new = change(row[1])
                bundle.expected[("manifest.csv", row[0], f"mode {new} read as {row[1]}")] += 1
                row[1] = new

    return rewrite


def encoded(encoding: str) -> Callable[[Bundle], None]:
    rule = {"utf-8-sig": UTF8_BOM_RULE, "utf-16": UTF16_RULE}[encoding]

    def rewrite(bundle: Bundle) -> None:
        bundle.encoding = encoding
        for name in bundle.read_files():
            bundle.expected[(name, None, rule)] += 1

    return rewrite


def crlf(bundle: Bundle) -> None:
    bundle.newline = "\r\n"  # the binding's own line end (RFC 4180): no warning


def _title(value: str) -> str:
    return value[:1].upper() + value[1:]


# name -> the rewrites, applied in order to a copy of the clean bundle
QUIRKS: dict[str, tuple[Callable[[Bundle], None], ...]] = {
    "utf-8 BOM": (encoded("utf-8-sig"),),
    "UTF-16 with BOM": (encoded("utf-16"),),
    "CRLF": (crlf,),
    "booleans TRUE/FALSE": (booleans("TRUE", "FALSE"),),
    "booleans True/False": (booleans("True", "False"),),
    "booleans 1/0": (booleans("1", "0"),),
    "booleans yes/no": (booleans("yes", "no"),),
    "booleans Y/N": (booleans("Y", "N"),),
    "enumerations in capitals": (enumerations(str.upper),),
    "enumerations in title case": (enumerations(_title),),
    "date-times with Z": (date_times("T00:00:00Z"),),
    "date-times with a space": (date_times(" 00:00:00"),),
    "date-times with an offset": (date_times("T08:15:00.000-05:00"),),
    "grades without a leading zero": (unpadded_grades,),
    "extension columns": (extension_columns,),
    "headers in capitals": (headers(str.upper, lambda old, new: f"header {new} read as {old}"),),
    "headers with spaces": (
        headers(lambda h: f" {h} ", lambda _old, new: f"header {new!r} read without its spaces"),
    ),
    "blank manifest rows": (blank_manifest_rows,),
    "manifest modes in capitals": (manifest_modes(str.upper),),
    "everything at once": (
        encoded("utf-8-sig"),
        crlf,
        booleans("TRUE", "0"),
        enumerations(_title),
        date_times(" 00:00:00"),
        extension_columns,
        blank_manifest_rows,
    ),
}


def variant(clean_bundle: Bundle, quirk: str) -> Bundle:
    bundle = Bundle(
        version=clean_bundle.version,
        tables={n: [list(r) for r in t] for n, t in clean_bundle.tables.items()},
    )
    for rewrite in QUIRKS[quirk]:
        rewrite(bundle)
    return bundle
