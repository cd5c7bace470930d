"""Values the parsers produce."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from gateway.core.canonical import digest, digest_bytes
from gateway.core.limits import MAX_DEPTH, OUTSIDE, quick_tree_issues, shown
from gateway.errors import InputInvalid, Issue, OutsideLimits


@dataclass(frozen=True, kw_only=True)
class SourceRecord:
    entity: str
    location: str  # where in the payload: "$[3]", "line 4", "Bundle.entry[2]"
    data: Any
    digest: str
    # Its mapping result, when it was mapped where it was parsed (``core.batch.Premap``); not
    # part of what the record is.
    premapped: Any = field(default=None, compare=False, repr=False)

    def __reduce_ex__(self, protocol: Any) -> Any:
        """A record mapped with its text (``core.batch.Premapped.text``, a FHIR resource) is
        pickled without its decoded tree: the process that stores it needs only the text
        (``core.fhir_text``); ``data`` is decoded from the text if it is read."""
        text = getattr(self.premapped, "text", None)
        if text is None:
            return super().__reduce_ex__(protocol)
        return (_sent_as_text, (self.entity, self.location, self.digest, self.premapped))

    if not TYPE_CHECKING:  # only ``data`` is ever missing: the checker keeps every other name

        def __getattr__(self, name: str) -> Any:
            # Reached only for an attribute not set: a record sent as text has no ``data`` yet.
            if name != "data" or "premapped" not in self.__dict__:
                raise AttributeError(name)
            data = self.premapped.text.data()
            object.__setattr__(self, "data", data)
            return data


def _sent_as_text(entity: str, location: str, digest: str, premapped: Any) -> SourceRecord:
    sent = object.__new__(SourceRecord)
    sent.__dict__.update(entity=entity, location=location, digest=digest, premapped=premapped)
    return sent


@dataclass(frozen=True, kw_only=True)
class RecordProblem:
    location: str
    issues: tuple[Issue, ...]


@dataclass(frozen=True, kw_only=True)
class ParseResult:
    records: tuple[SourceRecord, ...]
    problems: tuple[RecordProblem, ...] = ()


def record(entity: str, location: str, data: Any) -> SourceRecord:
    return SourceRecord(entity=entity, location=location, data=data, digest=record_digest(data))


def record_digest(data: Any) -> str:
    """The canonical digest of a record (keys sorted, compact, UTF-8), computed with orjson:
    the same bytes as ``core.canonical`` for the strings, integers and structures records
    carry, about seven times faster on the bulk path. Values orjson cannot take (integers
    beyond 64 bits) fall back to the core's form."""
    try:
        return digest_bytes(orjson.dumps(data, option=orjson.OPT_SORT_KEYS))
    except TypeError:
        return digest(data)


class _DuplicateKey(ValueError):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _DuplicateKey(f"duplicate key '{shown(key)}'")
        found[key] = value
    return found


def load_json(text: bytes | str, where: str = "$", *, binary_keys: frozenset[str] = frozenset()) -> Any:
    """Strict JSON: UTF-8, no duplicate keys, no NaN, and within the edge limits
    (``core.limits``: nesting, text characters and lengths). Errors name line and column, or the
    JSON path of each string or level over a limit."""
    doc = _decode(text, where)
    issues = quick_tree_issues(doc, where, binary_keys=binary_keys)
    if issues:
        raise OutsideLimits(OUTSIDE, issues)
    return doc


def _decode(text: bytes | str, where: str) -> Any:
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8-sig")
        return json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise OutsideLimits(
            "payload is not UTF-8 text",
            [Issue(path=f"{where} byte {exc.start}", message="re-encode as UTF-8")],
        ) from exc
    except RecursionError as exc:
        # The decoder recurses per level: far past MAX_DEPTH it runs out of stack first.
        raise OutsideLimits(
            OUTSIDE,
            [Issue(path=where, message=f"nested deeper than {MAX_DEPTH} levels of arrays and objects")],
        ) from exc
    except json.JSONDecodeError as exc:
        raise InputInvalid(
            "payload is not valid JSON",
            [
                Issue(
                    path=f"{where} line {exc.lineno} column {exc.colno}",
                    message=exc.msg,
                )
            ],
        ) from exc
    except _DuplicateKey as exc:
        raise InputInvalid(
            "payload is not valid JSON",
            [Issue(path=where, message=f"{exc}; send each key once")],
        ) from exc
    except ValueError as exc:  # NaN / Infinity, or an integer of more than 4,300 digits
        raise InputInvalid(
            "payload is not valid JSON",
            [Issue(path=where, message=_value_error(exc))],
        ) from exc


def _value_error(exc: ValueError) -> str:
    if "digits" in str(exc):
        return "a number with more than 4300 digits; send it as a string"
    return str(exc)


def xml_syntax_error(exc: Any, advice: str) -> InputInvalid:
    """An lxml ``XMLSyntaxError`` as the gateway's error, at its line and column. libxml2 stops at
    256 levels of nesting (no ``huge_tree``): that is the nesting limit, said as such."""
    line, column = exc.position if exc.position else (exc.lineno, 0)
    where = f"line {line} column {column}"
    if "Excessive depth" in str(exc.msg):
        return OutsideLimits(
            OUTSIDE,
            [Issue(path=where, message=f"elements nested deeper than {MAX_DEPTH} levels")],
        )
    return InputInvalid("payload is not well-formed XML", [Issue(path=where, message=advice)])


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


def collect(items: Iterable[Any]) -> ParseResult:
    """A stream's records and problems gathered into one ``ParseResult`` (a whole payload's answer)."""
    records: list[SourceRecord] = []
    problems: list[RecordProblem] = []
    for item in items:
        (records if isinstance(item, SourceRecord) else problems).append(item)
    return ParseResult(records=tuple(records), problems=tuple(problems))
