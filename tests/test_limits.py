"""The edge limits (gateway/core/limits.py) as tables: the pure checks, then every parser held to
them, each refusal naming where (a JSON path, a line, a column) and never echoing the value."""

from __future__ import annotations

import json

import pytest

from gateway.core import limits
from gateway.core.limits import MAX_DEPTH, MAX_KEY, MAX_TEXT, shown, text_problem, tree_issues
from gateway.errors import InputInvalid, OutsideLimits
from gateway.formats import parse_payload
from gateway.formats.records import load_json
from tests.limit_payloads import (
    MANIFEST,
    PATIENT,
    USERS_HEADER,
    edfi_json,
    fhir_json,
    fhir_ndjson,
    fhir_xml,
    interchange_student,
    nested,
    oneroster_csv,
    zip_of,
)

NUL, CONTROL, SURROGATE, NONCHAR = "\x00", "\x01", "\ud800", "\ufffe"


# -- text_problem: what a string may hold ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # text, with the three C0 characters that are text
        pytest.param("Lisa Woods", None, id="plain"),
        pytest.param("line\nbreak\ttab\rreturn", None, id="tab, line feed, carriage return"),
        pytest.param("é, 日本, 🙂", None, id="non-ASCII and astral characters"),
        pytest.param("x" * MAX_TEXT, None, id="at the length limit"),
        # not text
        pytest.param("a\x00b", "a NUL character (U+0000) at character 2", id="NUL"),
        pytest.param("a\x1fb", "the control character U+001F at character 2", id="C0 control"),
        pytest.param("\ud800", "a lone UTF-16 surrogate (U+D800)", id="lone high surrogate"),
        pytest.param("a\udfff", "a lone UTF-16 surrogate (U+DFFF) at character 2", id="lone low surrogate"),
        pytest.param("\ufffe", "U+FFFE at character 1, which is not a text character", id="noncharacter"),
        pytest.param("x" * (MAX_TEXT + 1), f"is longer than {MAX_TEXT} characters", id="over the length"),
    ],
)
def test_text_problem(text: str, expected: str | None) -> None:
    problem = text_problem(text)
    assert (problem is None) == (expected is None)
    if expected is not None:
        assert problem is not None
        assert expected in problem


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("a\x00b\x01c", "a\ufffdb\ufffdc", id="controls replaced"),
        pytest.param("\ud800x", "\ufffdx", id="surrogate replaced"),
        pytest.param("k" * 500, "k" * (limits.SHOWN - 1) + "…", id="cut to the shown length"),
        pytest.param("tab\tkept", "tab\tkept", id="text kept"),
    ],
)
def test_shown_text_is_fit_for_any_answer(text: str, expected: str) -> None:
    assert shown(text) == expected


# -- tree_issues: a parsed JSON value, each problem at its path --------------------------------


@pytest.mark.parametrize(
    ("value", "paths"),
    [
        pytest.param({"a": [{"b": "ok"}], "n": 1.5}, [], id="within every limit"),
        pytest.param(nested(MAX_DEPTH), [], id="at the depth limit"),
        pytest.param(nested(MAX_DEPTH + 1), ["$" + "[0]" * MAX_DEPTH], id="one level too deep"),
        pytest.param({"a": {"b": "x\x00"}}, ["$.a.b"], id="NUL in a nested string"),
        pytest.param([1, "\ud800", 2, "\x07"], ["$[1]", "$[3]"], id="every bad string reported"),
        pytest.param({"k\x00": 1}, ["$"], id="NUL in a key: the parent is named, not the key"),
        pytest.param({"k" * (MAX_KEY + 1): 1}, ["$"], id="over-long key"),
        pytest.param({"n": float("inf")}, ["$.n"], id="number overflowing to infinity"),
        pytest.param({"n": 2**64}, ["$.n"], id="integer beyond 64 bits"),
        pytest.param({"n": -(2**63), "m": 2**64 - 1, "b": True}, [], id="64-bit integers and booleans"),
    ],
)
def test_tree_issues(value: object, paths: list[str]) -> None:
    assert [issue.path for issue in tree_issues(value)] == paths


def test_tree_issues_stop_at_twenty() -> None:
    assert len(tree_issues(["\x00"] * 100)) == limits.MAX_ISSUES


def test_binary_keys_are_not_held_to_the_text_length() -> None:
    long = {"data": "QUJD" * (MAX_TEXT // 4 + 1)}
    assert [i.path for i in tree_issues(long)] == ["$.data"]
    assert tree_issues(long, binary_keys=frozenset({"data"})) == []
    assert [i.path for i in tree_issues({"data": "\x00"}, binary_keys=frozenset({"data"}))] == ["$.data"]


# -- load_json: the strict reader every JSON door uses -----------------------------------------


@pytest.mark.parametrize(
    ("text", "path", "message"),
    [
        pytest.param(b"[" * 5000 + b"]" * 5000, "$", "nested deeper than 64", id="far too deep"),
        pytest.param(json.dumps(nested(MAX_DEPTH + 1)).encode(), "$" + "[0]" * 64, "nested", id="too deep"),
        pytest.param(b'{"a": "\\u0000"}', "$.a", "NUL", id="escaped NUL"),
        pytest.param(b'{"a": "\\u0001"}', "$.a", "U+0001", id="escaped control"),
        pytest.param(b'{"a": ["\\ud800"]}', "$.a[0]", "surrogate", id="escaped lone surrogate"),
        pytest.param(b'{"a": "\\udc00\\ud800"}', "$.a", "surrogate", id="surrogates in the wrong order"),
        pytest.param(b'{"a": 1e400}', "$.a", "infinity", id="overflowing number"),
        pytest.param(b'{"a": 18446744073709551616}', "$.a", "64 bits", id="integer beyond 64 bits"),
        pytest.param(b'{"a": ' + b"9" * 5000 + b"}", "$", "4300 digits", id="integer beyond Python's digits"),
        pytest.param(b'{"a": "\x01"}', "$ line 1 column 8", "Invalid control", id="raw control character"),
        pytest.param(b'{"a": "\xff"}', "$ byte 7", "UTF-8", id="not UTF-8"),
        pytest.param('{"a": "é"}'.encode("utf-16"), "$ byte 0", "UTF-8", id="UTF-16"),
    ],
)
def test_load_json_refuses_with_the_place(text: bytes, path: str, message: str) -> None:
    with pytest.raises(InputInvalid) as refused:
        load_json(text)
    assert refused.value.status == 400
    assert [issue.path for issue in refused.value.issues] == [path]
    assert message in refused.value.issues[0].message or message in refused.value.message


def test_a_good_surrogate_pair_is_one_character() -> None:
    assert load_json(b'{"a": "\\ud83d\\ude42"}') == {"a": "🙂"}


def test_a_duplicate_key_is_named_without_its_control_characters() -> None:
    with pytest.raises(InputInvalid) as refused:
        load_json(b'{"a\\u0001": 1, "a\\u0001": 2}')
    assert "\x01" not in str(refused.value)


# -- every parser, the same limits ----------------------------------------------------------------

# (format, entity, payload builder, where the bad value is)
TEXT_FORMATS = [
    pytest.param("edfi-json", "students", edfi_json, "$[0].firstName", id="edfi-json"),
    pytest.param("fhir-json", None, fhir_json, "$.name[0].family", id="fhir-json"),
    pytest.param("fhir", None, fhir_json, "$.name[0].family", id="fhir (sniffed JSON)"),
    pytest.param("fhir-ndjson", None, fhir_ndjson, "line 2.name[0].family", id="fhir-ndjson"),
    pytest.param(
        "oneroster-csv", None, oneroster_csv, "users.csv line 2 column givenName", id="oneroster-csv"
    ),
]
BAD_TEXT = [
    pytest.param(NUL, "NUL", id="NUL"),
    pytest.param(CONTROL, "U+0001", id="control"),
    pytest.param(SURROGATE, "surrogate", id="lone surrogate"),
    pytest.param(NONCHAR, "U+FFFE", id="noncharacter"),
]


def refusal(format_name: str, entity: str | None, payload: bytes) -> list[tuple[str, str]]:
    """(path, message) of every issue, whether the whole payload or one record is refused; the
    good first line of an NDJSON payload still comes through."""
    try:
        parsed = parse_payload(format_name, payload, entity)
    except InputInvalid as exc:
        return [(i.path, i.message) for i in exc.issues]
    assert [r.location for r in parsed.records] == (["line 1"] if "ndjson" in format_name else [])
    return [(i.path, i.message) for p in parsed.problems for i in p.issues]


@pytest.mark.parametrize(("format_name", "entity", "build", "path"), TEXT_FORMATS)
@pytest.mark.parametrize(("bad", "message"), BAD_TEXT)
def test_every_format_refuses_text_no_column_can_store(format_name, entity, build, path, bad, message):
    if format_name == "oneroster-csv" and bad == SURROGATE:
        # a file is bytes: a surrogate's bytes are not UTF-8, and the row is refused as such
        path, message = "users.csv line 2", "not UTF-8"
    payload = build(f"Li{bad}sa")
    found = refusal(format_name, entity, payload)
    assert [p for p, _ in found] == [path]
    assert message in found[0][1]
    assert bad not in found[0][1]


@pytest.mark.parametrize(("format_name", "entity", "build", "path"), TEXT_FORMATS)
def test_every_format_refuses_over_long_text(format_name, entity, build, path, monkeypatch):
    monkeypatch.setattr(limits, "MAX_TEXT", 12)  # read at each check: no megabyte payloads needed
    found = refusal(format_name, entity, build("Lisa Sybil Woods"))
    kind = "cell" if format_name == "oneroster-csv" else "string"
    assert found == [(path, f"this {kind} is longer than 12 characters")]


def test_fhir_xml_refuses_over_long_text(monkeypatch):
    monkeypatch.setattr(limits, "MAX_TEXT", 12)
    assert refusal("fhir-xml", None, fhir_xml("Lisa Sybil Woods")) == [
        ("$.name[0].family", "this string is longer than 12 characters")
    ]


def test_ed_fi_xml_records_are_held_to_the_text_limit_after_conversion(monkeypatch):
    monkeypatch.setattr(limits, "MAX_TEXT", 10)
    [problem] = parse_payload("edfi-xml", interchange_student("Lisa Sybil W")).problems
    assert [i.path for i in problem.issues] == ["InterchangeStudent/Student[1] (line 1): $.firstName"]


def deep_xml(root: str, namespace: str, depth: int) -> bytes:
    return f'<{root} xmlns="{namespace}">'.encode() + b"<a>" * depth + b"</a>" * depth + f"</{root}>".encode()


@pytest.mark.parametrize(
    ("format_name", "payload", "path", "message"),
    [
        # nesting, below and beyond libxml2's own 256 levels
        pytest.param(
            "fhir-xml",
            deep_xml("Patient", "http://hl7.org/fhir", 100),
            "line 1",
            "nested deeper",
            id="FHIR 100",
        ),
        pytest.param(
            "fhir-xml",
            deep_xml("Patient", "http://hl7.org/fhir", 3000),
            "line 1 column",
            "nested",
            id="FHIR 3000",
        ),
        pytest.param(
            "edfi-xml",
            deep_xml("InterchangeStudent", "http://ed-fi.org/5.2.0", 3000),
            "line 1 column",
            "nested deeper",
            id="Ed-Fi 3000",
        ),
        # characters XML 1.0 cannot carry, even as character references
        pytest.param(
            "fhir-xml", fhir_xml("Lisa").replace(b"Lisa", b"Li&#1;sa"), "line 2 column", "fix", id="FHIR &#1;"
        ),
        pytest.param(
            "fhir-xml", fhir_xml("Lisa").replace(b"Lisa", b"Li&#0;sa"), "line 2 column", "fix", id="FHIR &#0;"
        ),
        pytest.param(
            "edfi-xml", interchange_student("Li&#1;sa"), "line 1 column", "fix the XML", id="Ed-Fi &#1;"
        ),
        pytest.param(
            "fhir-xml",
            fhir_xml("Lisa").replace(b"Lisa", b"Li&#xD800;sa"),
            "line 2 column",
            "fix",
            id="FHIR surrogate",
        ),
        # encodings
        pytest.param(
            "fhir-xml",
            '<Patient xmlns="http://hl7.org/fhir"><id value="é"/></Patient>'.encode("latin-1"),
            "line 1 column",
            "fix",
            id="FHIR latin-1 undeclared",
        ),
    ],
)
def test_xml_limits_name_the_line(format_name, payload, path, message):
    found = refusal(format_name, None, payload)
    assert found
    assert found[0][0].startswith(path), found
    assert message in found[0][1]


def test_a_json_payload_nested_past_the_limit_is_refused_by_every_json_format():
    deep = json.dumps({**PATIENT, "extension": [nested(MAX_DEPTH)]}).encode()
    for format_name in ("fhir-json", "fhir", "edfi-json"):
        with pytest.raises(OutsideLimits):
            parse_payload(format_name, deep, "students" if format_name == "edfi-json" else None)
    [problem] = parse_payload("fhir-ndjson", json.dumps(PATIENT).encode() + b"\n" + deep).problems
    assert problem.location == "line 2"


def test_oneroster_cells_in_any_language_are_text():
    assert parse_payload("oneroster-csv", oneroster_csv("Adé 日本")).records


@pytest.mark.parametrize(
    ("files", "path", "message"),
    [
        pytest.param(
            {
                "manifest.csv": MANIFEST.encode(),
                "users.csv": f"{USERS_HEADER}\n900001,,,true,s-1,student,stu1,,Adé,T,,,,,,,10,\n".encode(
                    "latin-1"
                ),
            },
            "users.csv line 2",
            "not UTF-8",
            id="latin-1 rows",
        ),
        # UTF-16 with a byte order mark is read (with a warning); without one it is refused, named.
        pytest.param(
            {"manifest.csv": MANIFEST.encode("utf-16-le"), "users.csv": USERS_HEADER.encode()},
            "manifest.csv",
            "UTF-16 text without a byte order mark",
            id="UTF-16 manifest without a mark",
        ),
        pytest.param(
            {"manifest.csv": MANIFEST.encode(), "users.csv": USERS_HEADER.encode("utf-16-be")},
            "users.csv",
            "save it as UTF-8",
            id="UTF-16 users without a mark",
        ),
    ],
)
def test_oneroster_encodings_are_named(files, path, message):
    found = refusal("oneroster-csv", None, zip_of(files))
    assert found[0][0] == path
    assert message in found[0][1]


def test_a_damaged_zip_entry_is_refused_naming_the_file():
    damaged = bytearray(oneroster_csv("Ada"))
    data = damaged.find(b"users.csv") + len("users.csv")  # users.csv's deflated data follows its name
    damaged[data + 5 : data + 25] = b"\xff" * 20
    found = refusal("oneroster-csv", None, bytes(damaged))
    assert found == [
        (
            "users.csv",
            "the zip entry is damaged, or compressed in a way the gateway cannot read (use deflate); "
            "zip the bundle again",
        )
    ]
