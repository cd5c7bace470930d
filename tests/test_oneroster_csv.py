"""OneRoster CSV bundles: the Grand Bend sample end to end, the quirks table, per-row problems."""

from __future__ import annotations

import codecs
import io
import os
import zipfile

import pytest
from conftest import SHARED_SAMPLES
from oneroster_helpers import (
    FIXTURES,
    SOURCE,
    elements_from,
    folder_files,
    plan_of,
    register_students,
    zip_files,
)

from gateway.errors import InputInvalid
from gateway.formats import parse_payload
from gateway.formats.oneroster_csv import read_bundle
from gateway.formats.oneroster_leniency import EXTENSION_RULE, EXTRA_FIELDS_RULE
from gateway.formats.records import RecordProblem, SourceRecord
from gateway.service.exchange.oneroster import bundle_bytes, ingest_oneroster

GRAND_BEND = SHARED_SAMPLES / "oneroster" / "ed-fi-lms-toolkit" / "OneRoster 1.1 Sample Data"
# Outside CI a missing ../shared skips; in CI (``CI`` set) the test runs and fails loudly.
SHARED_SAMPLE = pytest.mark.skipif(
    not GRAND_BEND.is_dir() and not os.environ.get("CI"),
    reason="the shared OneRoster sample folder is absent",
)
GRAND_BEND_STUDENTS = ("604863", "604874", "604918", "604927", "604938", "604969", "604974", "605015")

MANIFEST_11 = "propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\nfile.users,bulk\n"
USERS_HEADER = (
    "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenName,"
    "familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password"
)
USER_ROW = "900001,,,true,s-1,student,stu1,,Ada,Tester,,,,,,,10,"


def _users_bundle(users: str | bytes, manifest: str = MANIFEST_11) -> bytes:
    return zip_files({"manifest.csv": manifest, "users.csv": users})


def _records(payload: bytes) -> list[SourceRecord]:
    return list(parse_payload("oneroster-csv", payload).records)


def _problems(payload: bytes) -> list[RecordProblem]:
    return list(parse_payload("oneroster-csv", payload).problems)


# -- the public sample ------------------------------------------------------------------------


@SHARED_SAMPLE
def test_grand_bend_sample_loads_end_to_end_into_the_ed_fi_students_plans(rt):
    register_students(rt, *GRAND_BEND_STUDENTS)
    summary = ingest_oneroster(rt, source_org=SOURCE, path_or_bytes=GRAND_BEND)
    outcome = summary.outcome
    assert summary.ingest.status == "mapped", summary.to_dict()
    assert (outcome["rejected"], outcome["held"], outcome["failed"]) == (0, 0, 0)
    assert outcome["accepted"] == 8 + 20  # student users + student enrollments
    assert outcome["ignored"] == 2 + 3 + 2 + 2 + 8 + 2 + 4  # orgs, sessions, courses, classes, demo, staff
    warnings = {(w.file, w.column, w.rule): (w.count, w.lines) for w in summary.warnings}
    assert warnings[("manifest.csv", "manifest.version", "'1' read as 1.0")] == (1, ())
    assert warnings[("orgs.csv", "metadata.address1", EXTENSION_RULE)] == (0, ())  # declared, never filled
    assert warnings[("users.csv", None, EXTRA_FIELDS_RULE)] == (2, (10, 11))
    plan = plan_of(rt, "604863")  # the plan the Ed-Fi students record registered
    assert len(elements_from(plan, "enrollments")) == 4  # two classes, two semesters
    assert [e["value"]["code"] for e in elements_from(plan, "users")] == ["09"]


@SHARED_SAMPLE
def test_a_folder_zips_to_the_same_bytes_every_time():
    assert bundle_bytes(GRAND_BEND) == bundle_bytes(GRAND_BEND)


def test_users_are_held_until_the_district_registers_the_student(rt):
    summary = ingest_oneroster(rt, source_org=SOURCE, path_or_bytes=FIXTURES / "v1p1-gradebook")
    assert summary.outcome["accepted"] == 0
    assert summary.outcome["held"] == 2 + 2 + 2  # users, enrollments, results of two students


def test_gradebook_results_are_facts_and_high_scores_strengths(rt):
    register_students(rt, "900001", "900002")
    summary = ingest_oneroster(rt, source_org=SOURCE, path_or_bytes=FIXTURES / "v1p1-gradebook")
    assert summary.ingest.status == "mapped", summary.to_dict()
    high, low = plan_of(rt, "900001"), plan_of(rt, "900002")
    assert [e["value"] for e in elements_from(high, "results") if "value" in e] == ["46"]
    assert [s["code"]["display"] for s in high["strengths"]] == ["Cells quiz"]  # 46 of 50 = 92%
    assert low["strengths"] == []  # 20 of 50 = 40%
    assert [n["code"]["code"] for n in low["needs"]] == ["low-assignment-score"]
    assert high["needs"] == []
    enrolment = elements_from(high, "enrollments")[0]
    assert enrolment["value"] == {
        "system": "https://purl.imsglobal.org/spec/or/v1p1/csv/classes",
        "code": "k-bio-1",
        "display": "Biology",
    }
    assert enrolment["period"] == {"start": "2025-08-18", "end": "2025-12-19"}


def test_the_same_bundle_twice_changes_nothing(rt):
    register_students(rt, "900001", "900002")
    ingest_oneroster(rt, source_org=SOURCE, path_or_bytes=FIXTURES / "v1p1-gradebook")
    again = ingest_oneroster(rt, source_org=SOURCE, path_or_bytes=FIXTURES / "v1p1-gradebook")
    assert again.outcome["elementsChanged"] == 0
    assert again.retractions == ()


# -- quirks: tolerated, each with the record it still gives ------------------------------------


def _quirk_bundles() -> list[tuple[str, bytes]]:
    plain = f"{USERS_HEADER}\n{USER_ROW}\n"
    cols, vals = USERS_HEADER.split(","), USER_ROW.split(",")
    order = list(reversed(range(len(cols))))
    reordered = ",".join(cols[i] for i in order) + "\n" + ",".join(vals[i] for i in order) + "\n"
    return [
        ("plain", _users_bundle(plain)),
        ("utf-8 BOM", _users_bundle(codecs.BOM_UTF8 + plain.encode())),
        ("CRLF", _users_bundle(plain.replace("\n", "\r\n"))),
        ("no final newline", _users_bundle(plain.rstrip("\n"))),
        ("reordered headers", _users_bundle(reordered)),
        ("metadata column", _users_bundle(f"{USERS_HEADER},metadata.lunch\n{USER_ROW},free\n")),
        ("ext_ column", _users_bundle(f"{USERS_HEADER},ext_vendor\n{USER_ROW},x\n")),
        ("19 fields for 18 headers", _users_bundle(f"{USERS_HEADER}\n{USER_ROW},18\n")),
        ('manifest.version "1"', _users_bundle(plain, MANIFEST_11.replace("version,1.0", "version,1"))),
        ("bundle in a top folder", zip_files({"b/manifest.csv": MANIFEST_11, "b/users.csv": plain})),
    ]


@pytest.mark.parametrize(("quirk", "payload"), _quirk_bundles(), ids=[q for q, _ in _quirk_bundles()])
def test_quirks_still_give_the_same_record(quirk, payload):
    records = _records(payload)
    assert [r.entity for r in records] == ["users"], quirk
    assert records[0].data["sourcedId"] == "900001"
    assert records[0].data["grades"] == "10"
    assert not any(k.startswith(("metadata", "ext_")) for k in records[0].data)
    assert records[0].digest == _records(_quirk_bundles()[0][1])[0].digest  # stable digests


@pytest.mark.parametrize(
    ("quirk", "payload", "note_path", "note"),
    [
        (
            "absent file present",
            zip_files(
                {
                    "manifest.csv": MANIFEST_11 + "file.orgs,absent\n",
                    "users.csv": f"{USERS_HEADER}\n",
                    "orgs.csv": "sourcedId\n",
                }
            ),
            "orgs.csv",
            "declared absent",
        ),
        (
            "undeclared file",
            zip_files({"manifest.csv": MANIFEST_11, "users.csv": f"{USERS_HEADER}\n", "extra.csv": "a\n"}),
            "extra.csv",
            "not declared",
        ),
    ],
)
def test_tolerated_quirks_leave_a_note(quirk, payload, note_path, note):
    info, _ = read_bundle(payload)
    assert any(n.path == note_path and note in n.message for n in info.notes), (quirk, info.notes)


def test_a_header_only_file_gives_no_records_and_no_problems():
    parsed = parse_payload("oneroster-csv", _users_bundle(USERS_HEADER))
    assert (parsed.records, parsed.problems) == ((), ())


# -- whole-bundle refusals, every problem at once ----------------------------------------------


@pytest.mark.parametrize(
    ("case", "payload", "paths"),
    [
        ("not a zip", b"sourcedId,status\n", ["$"]),
        ("missing manifest", zip_files({"users.csv": USERS_HEADER}), ["manifest.csv"]),
        (
            "bad manifest",
            _users_bundle(USERS_HEADER, "propertyName,value\noneroster.version,2.0\nfile.users,sometimes\n"),
            ["manifest.csv oneroster.version", "manifest.csv file.users"],
        ),
        ("declared file missing", zip_files({"manifest.csv": MANIFEST_11}), ["users.csv"]),
        (
            "required columns missing",
            _users_bundle("sourcedId,role,role\n1,student,student\n"),
            [
                "users.csv line 1 column enabledUser",
                "users.csv line 1 column givenName",
                "users.csv line 1 column role",
            ],
        ),
    ],
)
def test_a_broken_bundle_is_refused_with_every_problem(case, payload, paths):
    with pytest.raises(InputInvalid) as caught:
        parse_payload("oneroster-csv", payload)
    found = [i.path for i in caught.value.issues]
    assert all(p in found for p in paths), (case, found)


def test_a_refused_bundle_is_stored_as_rejected_and_retracts_nothing(rt):
    summary = ingest_oneroster(rt, source_org=SOURCE, path_or_bytes=zip_files({"users.csv": USERS_HEADER}))
    assert summary.ingest.status == "rejected"
    assert summary.outcome["records"][0]["issues"][0]["path"] == "manifest.csv"
    assert summary.retractions == ()


# -- per-row problems: file, line, column; the rest of the file lands --------------------------

ROW_CASES = [
    ("birth date out of range", "demographics", "1899-12-31", "birthDate", "outside 1900-2100"),
    ("not a date", "demographics", "31/12/2010", "birthDate", "YYYY-MM-DD"),
    ("bad enum", "demographics", "2010-01-01", "sex", "not a known value"),
]


@pytest.mark.parametrize(
    ("case", "stem", "birth", "column", "message"), ROW_CASES, ids=[c[0] for c in ROW_CASES]
)
def test_row_problems_name_file_line_and_column(case, stem, birth, column, message):
    sex = "unknown" if column == "sex" else "female"
    manifest = "propertyName,value\noneroster.version,1.1\nfile.demographics,bulk\n"
    body = f"sourcedId,birthDate,sex\n1,2010-01-01,male\n2,{birth},{sex}\n3,2011-02-02,female\n"
    parsed = parse_payload("oneroster-csv", zip_files({"manifest.csv": manifest, f"{stem}.csv": body}))
    assert [r.data["sourcedId"] for r in parsed.records] == ["1", "3"]
    (problem,) = parsed.problems
    assert problem.location == f"{stem}.csv line 3"
    assert [(i.path, message in i.message) for i in problem.issues] == [
        (f"{stem}.csv line 3 column {column}", True)
    ]
    assert "1899" not in str(problem.issues)  # no values in messages
    assert "31/12" not in str(problem.issues)


def test_a_row_with_fewer_fields_than_headers_is_rejected_and_others_land():
    payload = _users_bundle(f"{USERS_HEADER}\n900009,,,true\n{USER_ROW}\n")
    assert [r.data["sourcedId"] for r in _records(payload)] == ["900001"]
    (problem,) = _problems(payload)
    assert problem.location == "users.csv line 2"
    assert "4 fields for 18 header columns" in problem.issues[0].message


def test_line_numbers_count_physical_lines_of_quoted_multiline_cells():
    row = USER_ROW.replace(",Ada,", ',"Ada\nMarie",')
    payload = _users_bundle(f"{USERS_HEADER}\n{row}\n900002,,,maybe,s-1,student,u,,B,T,,,,,,,10,\n")
    (problem,) = _problems(payload)
    assert problem.issues[0].path == "users.csv line 4 column enabledUser"


def test_rejected_rows_leave_nothing_behind_in_the_plan(rt):
    register_students(rt, "900001", "900002")
    bad = "900002,,,true,s-1,student,stu2,,Ben,Tester,,,,,,,10,\n".replace("true", "maybe")
    summary = ingest_oneroster(
        rt, source_org=SOURCE, path_or_bytes=_users_bundle(f"{USERS_HEADER}\n{USER_ROW}\n{bad}")
    )
    assert summary.ingest.status == "partial"
    assert (summary.outcome["accepted"], summary.outcome["rejected"]) == (1, 1)
    assert elements_from(plan_of(rt, "900002"), "users") == []
    assert len(elements_from(plan_of(rt, "900001"), "users")) == 1


def test_1_2_roles_decide_who_is_a_student():
    info, items = read_bundle(zip_files(folder_files(FIXTURES / "v1p2-delta")))
    entities = {(i.location, i.entity) for i in items if isinstance(i, SourceRecord)}
    assert ("users.csv line 2", "users") in entities
    assert ("users.csv line 3", "nonstudent-users") in entities
    assert ("enrollments.csv line 2", "deactivations") in entities
    assert info.version == "1.2"
    assert info.deactivated == {"enrollments": {"e-1"}}


def test_a_zip_member_that_is_not_utf8_is_reported_at_its_line():
    payload = _users_bundle(
        f"{USERS_HEADER}\n".encode() + USER_ROW.replace("Ada", "Ad\xe9").encode("latin-1") + b"\n"
    )
    (problem,) = _problems(payload)
    assert problem.location.startswith("users.csv line")
    assert "UTF-8" in problem.issues[0].message


def test_deterministic_zip_of_a_folder_reads_back(tmp_path):
    for name, body in folder_files(FIXTURES / "v1p1-gradebook").items():
        (tmp_path / name).write_bytes(body if isinstance(body, bytes) else body.encode())
    with zipfile.ZipFile(io.BytesIO(bundle_bytes(tmp_path))) as zf:
        assert "manifest.csv" in zf.namelist()
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
