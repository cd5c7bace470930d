"""``manifest.csv``: the OneRoster version and each file's processing mode.

Read as exporters write it: rows with no property are skipped, a ``file.*`` row with no mode
(a file the exporter does not send) is ``absent``, modes and the header in any case, and
``manifest.version`` ``1`` is ``1.0``; each with a counted warning. A missing manifest, an
unknown version, an unknown mode or one file given two modes refuses the bundle, every problem
listed at once.
"""

from __future__ import annotations

import csv
import zipfile
from dataclasses import dataclass

from gateway.core.limits import shown
from gateway.errors import InputInvalid, Issue
from gateway.formats.oneroster_leniency import Tally
from gateway.formats.oneroster_tables import MANIFEST_VERSIONS, MODES, VERSIONS
from gateway.formats.oneroster_zip import encoding_of, open_text, readable

NAME = "manifest.csv"
_HEADER = ("propertyName", "value")


@dataclass(frozen=True, kw_only=True)
class Manifest:
    version: str
    modes: dict[str, str]  # file stem -> absent | bulk | delta


def read_manifest(zf: zipfile.ZipFile, prefix: str, tally: Tally) -> Manifest:
    name = prefix + NAME
    if name not in zf.namelist():
        raise InputInvalid(
            "the OneRoster bundle has no manifest.csv",
            [Issue(path=NAME, message="add manifest.csv (propertyName,value) at the zip's root")],
        )
    try:
        with readable(name):
            encoding, rule = encoding_of(zf, name)
            rows = list(csv.reader(open_text(zf, name, encoding)))
    except (UnicodeError, csv.Error) as exc:
        raise InputInvalid(
            "manifest.csv is not a valid OneRoster manifest",
            [Issue(path=NAME, message="not UTF-8 CSV; re-encode it as UTF-8")],
        ) from exc
    if rule is not None:
        tally.add(NAME, None, rule)
    props, issues = _properties(rows, tally)
    issues = [*_header_issues(rows[0] if rows else [], tally), *issues, *_value_issues(props)]
    if issues:
        raise InputInvalid("manifest.csv is not a valid OneRoster manifest", issues)
    if props.get("manifest.version") == "1":
        tally.add(NAME, "manifest.version", "'1' read as 1.0")
    return Manifest(
        version=props["oneroster.version"],
        modes={k[5:]: v for k, v in props.items() if k.startswith("file.")},
    )


def _properties(rows: list[list[str]], tally: Tally) -> tuple[dict[str, str], list[Issue]]:
    props: dict[str, str] = {}
    lines: dict[str, int] = {}
    issues: list[Issue] = []
    for line, row in enumerate(rows[1:], start=2):
        key = row[0].strip() if row else ""
        value = row[1].strip() if len(row) > 1 else ""
        if not key:
            tally.add(NAME, None, "row without a property skipped", line)
            continue
        if key.startswith("file."):
            value = _mode(key, value, line, tally)
        if key in props and props[key] != value:
            issues.append(
                Issue(
                    path=f"{NAME} line {line}",
                    message=f"{shown(key)} is given twice (also line {lines[key]}) with different "
                    "values; keep one",
                )
            )
        props[key], lines[key] = value, line
    return props, issues


def _mode(key: str, value: str, line: int, tally: Tally) -> str:
    if not value:
        tally.add(NAME, key, "blank processing mode read as absent", line)
        return "absent"
    folded = value.casefold()
    if value not in MODES and folded in MODES:
        tally.add(NAME, key, f"mode {shown(value, 20)} read as {folded}", line)
        return folded
    return value


def _header_issues(header: list[str], tally: Tally) -> list[Issue]:
    names = tuple(h.strip() for h in header[:2])
    if names == _HEADER:
        return []
    if tuple(n.casefold() for n in names) == tuple(h.casefold() for h in _HEADER):
        tally.add(NAME, None, "header read as propertyName,value", 1)
        return []
    return [Issue(path=f"{NAME} line 1", message="header must be propertyName,value")]


def _value_issues(props: dict[str, str]) -> list[Issue]:
    issues: list[Issue] = []
    if props.get("oneroster.version") not in VERSIONS:
        issues.append(
            Issue(path=f"{NAME} oneroster.version", message=f"must be one of {', '.join(VERSIONS)}")
        )
    if props.get("manifest.version", "1.0") not in MANIFEST_VERSIONS:
        issues.append(Issue(path=f"{NAME} manifest.version", message="must be 1.0"))
    for key, value in sorted(props.items()):
        if key.startswith("file.") and value not in MODES:
            issues.append(Issue(path=f"{NAME} {shown(key)}", message=f"must be one of {', '.join(MODES)}"))
    return issues
