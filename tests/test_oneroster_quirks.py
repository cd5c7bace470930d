"""OneRoster as real systems write it: every quirk of ``oneroster_variants`` applied to clean 1.1
and 1.2 bundles (and to every public sample in ../shared) lands the same records as the clean
form, with the expected warnings counted once per file, column and rule; what has no single
reading is still rejected; REST values get the same reading."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import SHARED_SAMPLES
from oneroster_helpers import SOURCE, folder_files, register_students, zip_files
from oneroster_server import enrollment_12, ref, user_12
from oneroster_variants import QUIRKS, Bundle, clean, variant

from gateway.cli import main
from gateway.errors import InputInvalid
from gateway.formats import parse_payload
from gateway.formats.oneroster_csv import BundleInfo, read_bundle
from gateway.formats.oneroster_rest import page_rows
from gateway.formats.records import RecordProblem, SourceRecord
from gateway.service.exchange.oneroster import ingest_oneroster

CLEAN = Path(__file__).resolve().parent / "fixtures" / "oneroster-clean"
CLEAN_BUNDLES = sorted(p for p in CLEAN.iterdir() if p.is_dir())
SHARED_ONEROSTER = SHARED_SAMPLES / "oneroster"


def _shared_bundles(root: Path = SHARED_ONEROSTER) -> list[Path]:
    return sorted(p.parent for p in root.rglob("manifest.csv")) if root.is_dir() else []


def _need_shared(root: Path = SHARED_ONEROSTER) -> None:
    """The public samples are part of the conformance bar: absent in CI is a failure, not a skip."""
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but no OneRoster sample bundle is under {root}")
    pytest.skip(f"no OneRoster sample bundle under {root} (outside CI)")


def _read(payload: bytes) -> tuple[BundleInfo, list[tuple[str, str, dict, str]], list[RecordProblem]]:
    info, items = read_bundle(payload)
    records = [(i.entity, i.location, i.data, i.digest) for i in items if isinstance(i, SourceRecord)]
    return info, records, [i for i in items if isinstance(i, RecordProblem)]


def _counts(info: BundleInfo) -> dict[tuple[str, str | None, str], int]:
    keys = [(w.file, w.column, w.rule) for w in info.warnings]
    assert len(keys) == len(set(keys)), "one warning per file, column and rule"
    return {(w.file, w.column, w.rule): w.count for w in info.warnings}


def _assert_same_landing(folder: Path, quirk: str) -> None:
    original = zip_files(folder_files(folder))
    base_info, base_records, base_problems = _read(original)
    quirky = variant(clean(folder), quirk)
    info, records, problems = _read(zip_files(dict(quirky.payload())))
    assert records == base_records
    assert [p.issues for p in problems] == [p.issues for p in base_problems]
    assert (info.version, info.modes, info.seen, info.deactivated) == (
        base_info.version,
        base_info.modes,
        base_info.seen,
        base_info.deactivated,
    )
    expected = _counts(base_info)
    for key, count in quirky.expected.items():
        expected[key] = expected.get(key, 0) + count
    assert _counts(info) == expected


# -- the clean bundles and their generated variants --------------------------------------------


@pytest.mark.parametrize("folder", CLEAN_BUNDLES, ids=[p.name for p in CLEAN_BUNDLES])
def test_the_clean_bundles_read_without_a_warning_or_a_problem(folder):
    info, records, problems = _read(zip_files(folder_files(folder)))
    assert (info.warnings, problems, info.notes) == ((), [], [])
    assert {e for e, *_ in records} >= {"users", "enrollments", "results", "demographics", "family-users"}


@pytest.mark.parametrize("folder", CLEAN_BUNDLES, ids=[p.name for p in CLEAN_BUNDLES])
@pytest.mark.parametrize("quirk", sorted(QUIRKS))
def test_a_quirky_bundle_lands_the_same_records_with_counted_warnings(folder, quirk):
    _assert_same_landing(folder, quirk)


@pytest.mark.parametrize("folder", CLEAN_BUNDLES, ids=[p.name for p in CLEAN_BUNDLES])
@pytest.mark.parametrize("quirk", sorted(set(QUIRKS) - {"CRLF"}))
def test_every_quirk_writes_something_the_reader_must_warn_about(folder, quirk):
    quirky: Bundle = variant(clean(folder), quirk)
    assert quirky.expected, f"{quirk} changed nothing in {folder.name}: the variant would prove nothing"


def test_crlf_is_the_bindings_own_line_end_and_changes_the_bytes():
    folder = CLEAN_BUNDLES[0]
    assert variant(clean(folder), "CRLF").payload() != variant(clean(folder), "booleans TRUE/FALSE").payload()
    assert b"\r\n" in variant(clean(folder), "CRLF").payload()["users.csv"]


def test_warnings_are_counted_per_file_and_column_not_per_row():
    quirky = variant(clean(CLEAN / "v1p1"), "booleans TRUE/FALSE")
    info, _, _ = _read(zip_files(dict(quirky.payload())))
    race = [w for w in info.warnings if w.file == "demographics.csv" and w.column == "white"]
    assert [(w.rule, w.count, w.lines) for w in race] == [
        ("boolean TRUE read as true", 1, (2,)),
        ("boolean FALSE read as false", 1, (3,)),
    ]
    enabled = {w.rule: w.count for w in info.warnings if w.column == "enabledUser"}
    assert enabled == {"boolean TRUE read as true": 4, "boolean FALSE read as false": 1}


# -- the public samples in ../shared (the conformance bar) ------------------------------------


@pytest.mark.parametrize("quirk", [None, *sorted(QUIRKS)])
def test_every_shared_sample_reads_and_its_variants_land_the_same_records(quirk):
    bundles = _shared_bundles()
    if not bundles:
        _need_shared()
    for folder in bundles:
        if quirk is None:
            _, records, problems = _read(zip_files(folder_files(folder)))
            assert problems == [], folder
            assert records, folder
        else:
            _assert_same_landing(folder, quirk)


@pytest.mark.parametrize(("ci", "outcome"), [("1", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_missing_shared_samples_fail_in_ci_and_skip_only_outside_it(tmp_path, monkeypatch, ci, outcome):
    monkeypatch.setenv("CI", ci)
    assert _shared_bundles(tmp_path / "absent") == []
    with pytest.raises(outcome):
        _need_shared(tmp_path / "absent")


# -- what has no single reading is still rejected -------------------------------------------

USERS_11 = (
    "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenName,"
    "familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password"
)
ENROLLMENTS = (
    "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,primary,"
    "beginDate,endDate"
)
MANIFEST = "propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\nfile.{stem},{mode}\n"


def _one_row(stem: str, header: str, row: str, mode: str = "bulk") -> bytes:
    return zip_files(
        {"manifest.csv": MANIFEST.format(stem=stem, mode=mode), f"{stem}.csv": f"{header}\n{row}\n"}
    )


@pytest.mark.parametrize(
    ("case", "payload", "column", "message"),
    [
        # booleans: only the one-word spellings of true and false
        (
            "boolean maybe",
            _one_row("users", USERS_11, "9,,,maybe,s,student,u,,A,B,,,,,,,07,"),
            "enabledUser",
            "true or false",
        ),
        (
            "boolean 2",
            _one_row("enrollments", ENROLLMENTS, "e,,,c,s,9,student,2,,"),
            "primary",
            "true or false",
        ),
        # dates: a day-first or month-first date has two readings
        (
            "date d/m/y",
            _one_row("enrollments", ENROLLMENTS, "e,,,c,s,9,student,,1/9/2025,"),
            "beginDate",
            "YYYY-MM-DD",
        ),
        (
            "date-time not a day",
            _one_row("enrollments", ENROLLMENTS, "e,,,c,s,9,student,,2025-02-30T00:00:00Z,"),
            "beginDate",
            "calendar",
        ),
        # enumerations: another case is read, another word is not
        (
            "role abbreviated",
            _one_row("enrollments", ENROLLMENTS, "e,,,c,s,9,stu,,,"),
            "role",
            "not a known value",
        ),
        (
            "status unknown",
            _one_row("enrollments", ENROLLMENTS, "e,deleted,,c,s,9,student,,,", "delta"),
            "status",
            "one of",
        ),
    ],
)
def test_values_with_no_single_reading_are_rejected_at_their_column(case, payload, column, message):
    (problem,) = parse_payload("oneroster-csv", payload).problems
    assert problem.issues[0].path.endswith(f"line 2 column {column}"), case
    assert message in problem.issues[0].message


@pytest.mark.parametrize(
    ("case", "files", "path"),
    [
        (
            "a column named twice once case is folded",
            {"manifest.csv": MANIFEST.format(stem="users", mode="bulk"), "users.csv": USERS_11 + ",ROLE\n"},
            "users.csv line 1 column role",
        ),
        (
            "a file given two modes",
            {
                "manifest.csv": MANIFEST.format(stem="users", mode="bulk") + "file.users,delta\n",
                "users.csv": USERS_11,
            },
            "manifest.csv line 5",
        ),
        (
            "a mode that is no mode",
            {"manifest.csv": MANIFEST.format(stem="users", mode="partial"), "users.csv": USERS_11},
            "manifest.csv file.users",
        ),
    ],
)
def test_a_bundle_that_cannot_be_read_one_way_is_refused(case, files, path):
    with pytest.raises(InputInvalid) as caught:
        read_bundle(zip_files(files))
    assert path in [i.path for i in caught.value.issues], case


# -- end to end: the quirky form stores exactly what the clean form does ----------------------


def test_the_quirky_form_then_the_clean_form_changes_no_plan(rt):
    register_students(rt, "700001", "700002", "700003")
    quirky = variant(clean(CLEAN / "v1p1"), "everything at once")
    first = ingest_oneroster(rt, source_org=SOURCE, path_or_bytes=zip_files(dict(quirky.payload())))
    assert first.ingest.status == "mapped", first.to_dict()
    summary = first.to_dict()
    assert {(w["file"], w["column"], w["rule"]): w["count"] for w in summary["warnings"]} == dict(
        quirky.expected
    )
    again = ingest_oneroster(rt, source_org=SOURCE, path_or_bytes=CLEAN / "v1p1")
    assert again.outcome["elementsChanged"] == 0
    assert (again.outcome["accepted"], again.retractions) == (first.outcome["accepted"], ())
    assert again.warnings == ()


# -- REST: the same reading of JSON values ---------------------------------------------------


def _user(**changes):
    return {**user_12("900001"), **changes}


@pytest.mark.parametrize(
    ("case", "collection", "clean_item", "quirky_item", "warning"),
    [
        (
            "boolean as a string",
            "users",
            _user(),
            _user(enabledUser="TRUE"),
            ("enabledUser", "boolean TRUE read as true"),
        ),
        (
            "boolean as a number",
            "users",
            _user(),
            _user(enabledUser=1),
            ("enabledUser", "boolean 1 read as true"),
        ),
        (
            "status in title case",
            "users",
            _user(),
            _user(status="Active"),
            ("status", "Active read as active"),
        ),
        (
            "role in title case",
            "users",
            _user(),
            _user(roles=[{"roleType": "primary", "role": "Student", "org": ref("org", "s-1")}]),
            ("roles[].role", "Student read as student"),
        ),
        (
            "date-time in a date field",
            "enrollments",
            enrollment_12("e-1", "900001"),
            {**enrollment_12("e-1", "900001"), "beginDate": "2025-08-18T00:00:00.000Z"},
            ("beginDate", "date-time read as its date (the time is dropped)"),
        ),
        (
            "deletion in capitals",
            "enrollments",
            enrollment_12("e-1", "900001", status="tobedeleted"),
            enrollment_12("e-1", "900001", status="TOBEDELETED"),
            ("status", "TOBEDELETED read as tobedeleted"),
        ),
    ],
)
def test_rest_values_get_the_csv_reading(case, collection, clean_item, quirky_item, warning):
    def parsed(item):
        raw = json.dumps({collection: [item, item]}).encode()
        records = parse_payload("oneroster-rest", raw).records
        return [(r.entity, r.data, r.digest) for r in records], page_rows(raw, collection)

    (clean_records, (clean_rows, clean_warnings)), (records, (rows, warnings)) = (
        parsed(clean_item),
        parsed(quirky_item),
    )
    assert records == clean_records, case
    assert [r.get("status") for r in rows] == [r.get("status") for r in clean_rows]
    assert clean_warnings == ()
    assert [(w.file, w.column, w.rule, w.count, w.lines) for w in warnings] == [
        (collection, *warning, 2, (0, 1))
    ]


def test_spgw_ingest_oneroster_reports_the_warnings(rt, settings, tmp_path):
    register_students(rt, "700001", "700002", "700003")
    quirky = variant(clean(CLEAN / "v1p1"), "booleans yes/no")
    folder = tmp_path / "bundle"
    folder.mkdir()
    for name, body in quirky.payload().items():
        (folder / name).write_bytes(body)
    env = {"GATEWAY_HOME": str(settings.home), "GATEWAY_DATABASE_URL": settings.database_url}
    args = ["ingest", "oneroster", str(folder), "--source", SOURCE, "--json"]
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 0, result.output
    (message,) = json.loads(result.output)["messages"]
    assert {(w["file"], w["column"], w["rule"]): w["count"] for w in message["warnings"]} == dict(
        quirky.expected
    )
    text = CliRunner().invoke(main, args[:-1], env=env)  # the human form names them on stderr
    count = quirky.expected[("enrollments.csv", "primary", "boolean no read as false")]
    assert f"warning: enrollments.csv column primary: boolean no read as false ({count}x)" in text.stderr


def test_a_bundle_posted_over_http_answers_with_its_counted_warnings(rt):
    from test_web_api import bearer_headers

    from gateway.web.app import create_app

    bundle = variant(clean(CLEAN / "v1p1"), "booleans TRUE/FALSE")
    client = create_app({"TESTING": True}, runtime=rt).test_client()
    headers = {**bearer_headers(client, rt)["grand-bend-isd"], "Content-Type": "application/zip"}
    answer = client.post("/api/v1/exchanges/oneroster-csv", data=zip_files(bundle.payload()), headers=headers)
    assert answer.status_code in (200, 202), answer.get_json()
    found = {(w["file"], w.get("column"), w["rule"]): w["count"] for w in answer.get_json()["warnings"]}
    assert found == dict(bundle.expected)
    assert bundle.expected, "the variant must give the reader something to warn about"
