"""What the gateway accepts at its edge, in one place, and the pure checks of parsed values.

Every parser (JSON, NDJSON, FHIR XML, Ed-Fi XML, OneRoster CSV) and every HTTP parameter is held
to these limits before anything else reads the input, and a refusal names where (a JSON path,
a line, a column), never the value. Why each limit:

- nesting: a deeply nested document makes recursive readers (the JSON decoder, the FHIR XML
  conversion, the R4 models, the mapping engine) exhaust the stack; real records nest far less;
- text: every string must be storable and renderable: PostgreSQL text and JSONB cannot hold NUL,
  XML 1.0 cannot carry other C0 controls, lone UTF-16 surrogates or U+FFFE/U+FFFF, and none of
  them is text a partner means to send. Tab, line feed and carriage return are text;
- lengths: identifiers are stored in ``student_links`` (system 300, value 200 characters), an
  attendance event's school in ``attendance_events`` (40), the request's labels in ``messages``
  (format 40, entity 80, Content-Type 100); other strings in JSON documents, bounded to keep one
  value from being most of a payload;
- numbers: a JSON number that overflows to infinity, or an integer beyond 64 bits, cannot be
  stored as a JSON document again.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Any

import orjson

from gateway.errors import Issue

MAX_DEPTH = 64  # nested arrays and objects (JSON), nested elements (XML)
MAX_TEXT = 1024 * 1024  # characters in one string value (binary fields have their own limit)
MAX_KEY = 256  # characters in one object key or element name
MAX_PARAMETER = 1000  # characters in one URL path segment or query value
MAX_ISSUES = 20  # issues reported per document: enough to fix it, not a copy of it
IDENTIFIER_SYSTEM_MAX = 300  # student_links.system
IDENTIFIER_VALUE_MAX = 200  # student_links.value
SCHOOL_ID_MAX = 40  # attendance_events.school: the school an attendance event names
LABELS = {"format": 40, "entity": 80, "Content-Type": 100}  # messages.format / entity / content_type
OUTSIDE = "payload is outside the gateway's limits"  # the message of every refusal by a limit
SHOWN = 120  # characters of a sender's own text (a key, a name) echoed in a message

# XML 1.0 Char (https://www.w3.org/TR/xml/#charsets): what both XML and PostgreSQL can carry.
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1  # what JSON documents are stored with (orjson)
_NOT_TEXT = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def text_problem(text: str, *, limit: int | None = None, binary: bool = False) -> str | None:
    """Why ``text`` cannot be taken (None when it can); names the character, never the text.
    ``limit``: the most characters (``MAX_TEXT`` when not given); ``binary``: no length limit
    (an encoded binary has its own)."""
    limit = MAX_TEXT if limit is None else limit
    if not binary and len(text) > limit:
        return f"is longer than {limit} characters"
    bad = _NOT_TEXT.search(text)
    if bad is None:
        return None
    what, why = _character(ord(bad.group()))
    return f"holds {what} at character {bad.start() + 1}{why}; remove it"


def _character(code: int) -> tuple[str, str]:
    if code == 0:
        return "a NUL character (U+0000)", ", which cannot be stored"
    if 0xD800 <= code <= 0xDFFF:
        return f"a lone UTF-16 surrogate (U+{code:04X})", ", which is not a character"
    if code < 0x20:
        return f"the control character U+{code:04X}", ""
    return f"U+{code:04X}", ", which is not a text character"


def shown(text: str, limit: int = SHOWN) -> str:
    """A sender's own text fit to be echoed in an error (and in XML): every character XML cannot
    carry replaced by U+FFFD, and at most ``limit`` characters."""
    cleaned = _NOT_TEXT.sub("\ufffd", text)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def printable(text: str) -> str:
    """``shown`` without the length cut: for messages the gateway wrote around such text."""
    return _NOT_TEXT.sub("\ufffd", text)


def tree_issues(value: Any, where: str = "$", *, binary_keys: frozenset[str] = frozenset()) -> list[Issue]:
    """Every limit a parsed JSON value breaks (at most ``MAX_ISSUES``), each at its JSON path.

    ``binary_keys``: keys whose string values are encoded binaries (FHIR ``data``), bounded by
    their own limit; their characters are still checked."""
    walk = _Walk(binary_keys)
    walk.value(value, where, 1, False)
    return walk.issues


# What, in orjson's output, can mark a value ``tree_issues`` would refuse: a C0 control other than
# tab, line feed and carriage return (orjson escapes them as \\b, \\f or \\u00XX; it writes every
# other character as UTF-8, so any \\u is one), U+FFFE or U+FFFF (UTF-8 EF BF BE/BF), a key of more
# than MAX_KEY bytes (a character is at least one byte), a string over MAX_TEXT. orjson refuses lone
# surrogates and integers beyond 64 bits, and writes NaN and infinity as null: those take the full
# walk. A mark may be innocent (an escaped backslash before a "b"): then the full walk decides.
# Separate searches, each starting from one literal byte: a single alternation was 7x slower.
_ESCAPED_CONTROL = re.compile(rb"\\[ubf]")
_NONCHARACTER = re.compile(rb"\xef\xbf[\xbe\xbf]")
# A key with an escaped quote inside (then the full walk decides its length).
_QUOTE_IN_KEY = re.compile(rb'\\"[^"]*":')


# Built for the limits in force (tests lower them); each search starts only at a quote.
@functools.cache
def _long_key(limit: int) -> re.Pattern[bytes]:
    """A key over ``limit`` bytes without a quote inside: its whole run."""
    return re.compile(rb'"[^"]{%d,}":' % (limit + 1))


@functools.cache
def _long_text(limit: int) -> re.Pattern[bytes]:
    """A string over ``limit`` bytes, in a document without an escaped quote: its whole run."""
    return re.compile(rb'"[^"]{%d}' % (limit + 1))


def quick_tree_issues(
    value: Any, where: str = "$", *, binary_keys: frozenset[str] = frozenset()
) -> list[Issue]:
    """``tree_issues``, the same issues, for any value, through its orjson serialisation: the bytes
    are searched at C speed and only the containers of a deep value walked; what orjson cannot
    write, writes as ``null`` (NaN, infinity, and None alike) or whose bytes show a mark takes
    the full walk, which then says what and where."""
    try:
        compact = orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        return tree_issues(value, where, binary_keys=binary_keys)
    if (
        b"null" not in compact
        and _compact_within(compact)
        and (compact.count(b"{") + compact.count(b"[") <= MAX_DEPTH or _nested_within(value, 1))
    ):
        return []
    return tree_issues(value, where, binary_keys=binary_keys)


def _compact_within(compact: bytes) -> bool:
    return not (
        (len(compact) > MAX_TEXT and (b'\\"' in compact or _long_text(MAX_TEXT).search(compact)))
        or _ESCAPED_CONTROL.search(compact)
        or _NONCHARACTER.search(compact)
        or _long_key(MAX_KEY).search(compact)
        or _QUOTE_IN_KEY.search(compact)
    )


def _nested_within(value: Any, depth: int) -> bool:
    if not isinstance(value, dict | list):
        return True
    if depth > MAX_DEPTH:
        return False
    for item in value.values() if isinstance(value, dict) else value:
        if isinstance(item, dict | list) and not _nested_within(item, depth + 1):
            return False
    return True


class _Full(Exception):
    """``MAX_ISSUES`` found: the walk stops."""


class _Walk:
    """Depth first, in document order. A payload is thousands of records with the same keys and
    mostly short scalars: a key is checked once per walk, and a location is spelled out only for
    a value that breaks a limit or a container to enter (not for every scalar)."""

    def __init__(self, binary: frozenset[str]) -> None:
        self.binary = binary
        self.issues: list[Issue] = []
        self.good_keys: set[str] = set()

    def add(self, where: str, message: str) -> None:
        self.issues.append(Issue(path=where, message=message))
        if len(self.issues) >= MAX_ISSUES:
            raise _Full

    def value(self, value: Any, where: str, depth: int, is_binary: bool) -> None:
        try:
            if isinstance(value, dict | list):
                self.container(value, where, depth)
            else:
                self.scalar(value, where, is_binary)
        except _Full:
            pass

    def scalar(self, value: Any, where: str, is_binary: bool) -> None:
        message = _scalar_problem(value, is_binary)
        if message is not None:
            self.add(where, message)

    def container(self, value: dict[str, Any] | list[Any], where: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            self.add(where, f"nested deeper than {MAX_DEPTH} levels of arrays and objects")
            return
        if isinstance(value, list):
            for index, item in enumerate(value):
                self.child(item, value, index, where, depth, False)
            return
        for key, item in value.items():
            if key not in self.good_keys:
                problem = text_problem(key, limit=MAX_KEY)
                if problem:
                    self.add(where, f"a key {problem}")
                    continue
                self.good_keys.add(key)
            self.child(item, value, key, where, depth, key in self.binary)

    def child(self, item: Any, parent: Any, key: Any, where: str, depth: int, is_binary: bool) -> None:
        if isinstance(item, dict | list):
            self.container(item, _location(where, parent, key), depth + 1)
            return
        message = _scalar_problem(item, is_binary)
        if message is not None:
            self.add(_location(where, parent, key), message)


def _location(where: str, parent: Any, key: Any) -> str:
    return f"{where}[{key}]" if isinstance(parent, list) else f"{where}.{key}"


def _scalar_problem(value: Any, is_binary: bool) -> str | None:
    if isinstance(value, str):
        problem = text_problem(value, binary=is_binary)
        return f"this string {problem}" if problem else None
    if isinstance(value, float) and not math.isfinite(value):
        return "a number too large for JSON (it overflows to infinity)"
    if isinstance(value, int) and not isinstance(value, bool) and not _INT_MIN <= value <= _INT_MAX:
        return "an integer beyond 64 bits cannot be stored; send it as a string"
    return None
