"""Pulling from an Ed-Fi ODS/API (a real local HTTP server): full and delta syncs land in plans;
deletes and key changes retract exactly what their record brought; failures leave the watermark."""

from __future__ import annotations

import copy
import json

import pytest
from edfi_ods_server import EdFiOds, OdsConfig, running_ods
from helpers import DISTRICT_IDS, LISA, coordinator_view, count_rows

from gateway.clients.edfi_http import RetryPolicy
from gateway.core.ids import student_id_for
from gateway.errors import AccessDenied, InputInvalid, UpstreamFailed
from gateway.service.sources.edfi_sync import (
    feed_name,
    mapped_resources,
    pull_edfi,
    pullable_resources,
    reference_resources,
)
from gateway.storage import attendance_rows, message_store, plan_store
from gateway.storage.reference_store import records_of

SCHOOL = 255901001
TOM = student_id_for(DISTRICT_IDS, "604824")
ATTENDANCE = "uri://ed-fi.org/AttendanceEventCategoryDescriptor#"


def _student(uid: str, first: str, last: str, birth: str) -> dict:
    return {"studentUniqueId": uid, "birthDate": birth, "firstName": first, "lastSurname": last}


def _enrollment(uid: str, entry: str = "2021-08-23") -> dict:
    return {
        "schoolReference": {"schoolId": SCHOOL},
        "studentReference": {"studentUniqueId": uid},
        "entryDate": entry,
        "entryGradeLevelDescriptor": "uri://ed-fi.org/GradeLevelDescriptor#Ninth grade",
    }


def _event(uid: str, day: str, category: str = "Excused Absence") -> dict:
    return {
        "attendanceEventCategoryDescriptor": ATTENDANCE + category,
        "eventDate": day,
        "schoolReference": {"schoolId": SCHOOL},
        "sessionReference": {
            "schoolId": SCHOOL,
            "schoolYear": 2022,
            "sessionName": "2021-2022 Fall Semester",
        },
        "studentReference": {"studentUniqueId": uid},
        "attendanceEventReason": "Absent",
        "eventDuration": 1,
    }


def seed(ods: EdFiOds) -> dict[str, list[str]]:
    """Three students, their enrollments and five attendance events (shapes of DS 5.0)."""
    return {
        "students": ods.load(
            "students",
            [
                _student("604822", "Lisa", "Woods", "2008-09-13"),
                _student("604824", "Tomas", "Reyes", "2009-01-02"),
                _student("604858", "Ana", "Quinn", "2008-04-30"),
            ],
        ),
        "studentSchoolAssociations": ods.load(
            "studentSchoolAssociations", [_enrollment(u) for u in ("604822", "604824", "604858")]
        ),
        "studentSchoolAttendanceEvents": ods.load(
            "studentSchoolAttendanceEvents",
            [
                _event("604822", "2021-10-11"),
                _event("604822", "2021-10-12", "Tardy"),
                _event("604822", "2021-10-13"),
                _event("604824", "2021-10-11", "Unexcused Absence"),
                _event("604858", "2021-10-14"),
            ],
        ),
    }


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def slept() -> Sleeps:
    return Sleeps()


@pytest.fixture
def ods():
    with running_ods() as server:
        yield server


def pull(rt, ods: EdFiOds, slept: Sleeps | None = None, **options):
    retry = RetryPolicy(attempts=3, sleep=slept if slept is not None else Sleeps(), jitter=lambda: 0.0)
    return pull_edfi(
        rt,
        source_org="grand-bend-isd",
        base_url=ods.base_url,
        client_id=ods.config.client_id,
        client_secret=ods.config.client_secret,
        retry=retry,
        **options,
    )


def plan_of(rt, student: str = LISA) -> dict:
    with rt.sessions() as session:
        row = plan_store.get_plan(session, student)
        assert row is not None, "the student has no plan"
        return row.document


def plan_version(rt, student: str = LISA) -> int:
    with rt.sessions() as session:
        row = plan_store.get_plan(session, student)
        assert row is not None
        return row.version


def enrollment_dates(rt, student: str = LISA) -> list[str]:
    return sorted(e["entryDate"] for e in plan_of(rt, student)["student"]["enrollments"])


def attendance(rt, student: str = LISA) -> list[tuple[str, str]]:
    """The student's attendance events (kept beside the plan; the plan holds what derives from them)."""
    with rt.sessions() as session:
        return sorted((e.event_date, e.category) for e in attendance_rows.attendance_events(session, student))


def attendance_rate(rt, student: str = LISA) -> float:
    facts = plan_of(rt, student)["domains"]["attendanceEngagement"]["facts"]
    return next(f["value"] for f in facts if f["code"]["code"] == "attendance-rate")


def watermark(rt, ods: EdFiOds) -> str | None:
    with rt.sessions() as session:
        state = message_store.get_sync_state(session, "grand-bend-isd", feed_name(ods.base_url))
        return state.watermark if state else None


# -- full sync --------------------------------------------------------------------------------


def test_the_pulled_resources_are_the_mapped_ones_students_first(rt):
    names = mapped_resources(rt)
    assert names[0] == "students"
    assert {"studentSchoolAssociations", "studentSchoolAttendanceEvents"} <= set(names)


def test_a_full_sync_lands_students_enrollments_and_attendance_in_plans(rt, ods):
    seed(ods)
    summary = pull(rt, ods, page_size=2)
    assert summary.mode == "full"
    assert (summary.watermark_from, summary.watermark_to) == (None, 11)
    counts = {r.resource: (r.pages, r.records, r.accepted) for r in summary.resources}
    assert counts["students"] == (2, 3, 3)
    assert counts["studentSchoolAssociations"] == (2, 3, 3)
    assert counts["studentSchoolAttendanceEvents"] == (3, 5, 5)
    assert not summary.troubled
    assert enrollment_dates(rt) == ["2021-08-23"]
    assert attendance(rt) == [
        ("2021-10-11", "excused-absence"),
        ("2021-10-12", "tardy"),
        ("2021-10-13", "excused-absence"),
    ]
    assert attendance(rt, TOM) == [("2021-10-11", "unexcused-absence")]
    assert watermark(rt, ods) == "11"


def test_every_page_is_staged_as_one_replayable_message(rt, ods):
    seed(ods)
    summary = pull(rt, ods, page_size=2)
    ids = [m for r in summary.resources for m in r.message_ids]
    assert len(ids) == summary.total("pages") == 7
    with rt.sessions() as session:
        message = message_store.get_message(session, ids[0])
        assert message is not None
        assert (message.format, message.entity, message.status) == ("edfi-json", "students", "mapped")
        assert [s["studentUniqueId"] for s in json.loads(message.payload)] == ["604822", "604824"]


def test_the_same_full_sync_twice_changes_nothing(rt, ods):
    seed(ods)
    pull(rt, ods)
    before = plan_version(rt)
    summary = pull(rt, ods, full=True)
    assert summary.mode == "full"
    assert plan_version(rt) == before


# -- delta sync -------------------------------------------------------------------------------


def test_a_delta_sync_pulls_only_what_changed_after_the_watermark(rt, ods):
    ids = seed(ods)
    pull(rt, ods)
    ods.create("studentSchoolAttendanceEvents", _event("604822", "2021-10-20", "Unexcused Absence"))
    changed = copy.deepcopy(_student("604824", "Tomas", "Reyes-Ortiz", "2009-01-02"))
    ods.update("students", ids["students"][1], changed)
    ods.seen.clear()
    summary = pull(rt, ods)
    assert summary.mode == "delta"
    assert (summary.watermark_from, summary.watermark_to) == (11, 13)
    records = {r.resource: r.records for r in summary.resources}
    assert (records["students"], records["studentSchoolAssociations"]) == (1, 0)
    assert records["studentSchoolAttendanceEvents"] == 1
    assert summary.total("records") == 2
    windows = {(s.query.get("minChangeVersion"), s.query.get("maxChangeVersion")) for s in ods.data_calls()}
    assert windows == {("12", "13")}
    assert ("2021-10-20", "unexcused-absence") in attendance(rt)
    assert plan_of(rt, TOM)["student"]["name"]["family"] == "Reyes-Ortiz"
    assert watermark(rt, ods) == "13"


def test_nothing_new_means_nothing_pulled(rt, ods):
    seed(ods)
    pull(rt, ods)
    ods.seen.clear()
    summary = pull(rt, ods)
    assert summary.mode == "up-to-date"
    assert summary.resources == ()
    assert ods.data_calls() == []


def test_a_delete_removes_the_plan_elements_of_that_record(rt, ods):
    ids = seed(ods)
    pull(rt, ods)
    ods.delete("studentSchoolAttendanceEvents", ids["studentSchoolAttendanceEvents"][1])  # the tardy
    summary = pull(rt, ods)
    events = next(r for r in summary.resources if r.resource == "studentSchoolAttendanceEvents")
    assert (events.deletes_seen, events.deletes_applied, events.elements_removed) == (1, 1, 1)
    assert summary.to_dict()["deletesApplied"] == 1
    assert attendance(rt) == [("2021-10-11", "excused-absence"), ("2021-10-13", "excused-absence")]
    assert attendance(rt, TOM) == [("2021-10-11", "unexcused-absence")]


def test_a_deleted_absence_no_longer_counts_in_the_attendance_rate(rt, ods):
    ids = seed(ods)
    pull(rt, ods)
    before = attendance_rate(rt)
    ods.delete("studentSchoolAttendanceEvents", ids["studentSchoolAttendanceEvents"][0])  # an absence
    pull(rt, ods)
    assert attendance_rate(rt) > before


def test_a_record_deleted_and_recreated_in_one_window_stays(rt, ods):
    ids = seed(ods)
    pull(rt, ods)
    ods.delete("studentSchoolAttendanceEvents", ids["studentSchoolAttendanceEvents"][1])
    ods.create("studentSchoolAttendanceEvents", _event("604822", "2021-10-12", "Tardy"))
    pull(rt, ods)
    assert ("2021-10-12", "tardy") in attendance(rt)


def test_a_key_change_removes_the_old_enrollment_and_keeps_the_new(rt, ods):
    ids = seed(ods)
    pull(rt, ods)
    ods.update(
        "studentSchoolAssociations", ids["studentSchoolAssociations"][0], _enrollment("604822", "2021-09-01")
    )
    summary = pull(rt, ods)
    ssa = next(r for r in summary.resources if r.resource == "studentSchoolAssociations")
    assert (ssa.key_changes_seen, ssa.key_changes_applied, ssa.records) == (1, 1, 1)
    assert enrollment_dates(rt) == ["2021-09-01"]
    assert enrollment_dates(rt, TOM) == ["2021-08-23"]


def test_delete_rows_without_key_values_are_reported_not_guessed(rt, ods):
    seed(ods)
    pull(rt, ods)
    # ODS/API 5.3 without the change-query patch: only id and changeVersion.
    ods.state.change_version += 1
    ods.state.deletes["studentSchoolAttendanceEvents"] = [{"id": "ab" * 16, "changeVersion": 12}]
    summary = pull(rt, ods)
    events = next(r for r in summary.resources if r.resource == "studentSchoolAttendanceEvents")
    assert events.deletes_applied == 0
    assert events.problems
    assert "not applied" in events.problems[0]
    assert len(attendance(rt)) == 3


def test_pre_6_pascal_case_change_versions_are_understood(rt):
    with running_ods(OdsConfig(version="5.3", pascal_case_versions=True)) as ods:
        ids = seed(ods)
        assert pull(rt, ods).watermark_to == 11
        ods.delete("studentSchoolAttendanceEvents", ids["studentSchoolAttendanceEvents"][0])
        summary = pull(rt, ods)
    assert (summary.mode, summary.watermark_to) == ("delta", 12)
    assert ("2021-10-11", "excused-absence") not in attendance(rt)


def test_a_server_without_change_queries_is_pulled_in_full_every_time(rt):
    with running_ods(OdsConfig(change_queries_path=None)) as ods:
        seed(ods)
        first = pull(rt, ods)
        second = pull(rt, ods)
    assert (first.mode, second.mode) == ("full", "full")
    assert "no change queries" in second.notes[0]
    assert second.total("records") == 11
    assert watermark(rt, ods) is None


def test_base_paths_come_from_the_discovery_document(rt):
    config = OdsConfig(data_path="/tenant-a/api/data/v3", oauth_path="/tenant-a/connect/token")
    with running_ods(config) as ods:
        seed(ods)
        summary = pull(rt, ods)
    assert summary.total("records") == 11


def test_a_year_specific_instance_reads_under_the_school_year(rt):
    with running_ods(OdsConfig(version="5.3", api_mode="Year Specific", school_year=2022)) as ods:
        seed(ods)
        with pytest.raises(UpstreamFailed, match="year-specific"):
            pull(rt, ods)
        summary = pull(rt, ods, school_year=2022)
    assert summary.total("records") == 11


def test_cursor_paging_gives_the_same_plans_as_offset_paging(rt):
    with running_ods(OdsConfig(version="7.3")) as ods:
        seed(ods)
        summary = pull(rt, ods, page_size=2)  # auto: cursor on 7.3
        assert any("pageSize" in s.query for s in ods.data_calls())
        assert not any(
            "offset" in s.query for s in ods.data_calls() if not s.path.endswith(("deletes", "keyChanges"))
        )
    assert summary.total("records") == 11
    assert summary.total("pages") == 7
    assert attendance(rt) == [
        ("2021-10-11", "excused-absence"),
        ("2021-10-12", "tardy"),
        ("2021-10-13", "excused-absence"),
    ]


# -- trouble ----------------------------------------------------------------------------------


def test_a_token_revoked_mid_pull_is_renewed_once_and_the_pull_completes(rt, ods):
    seed(ods)
    ods.revoke_after_data_calls = 3
    summary = pull(rt, ods, page_size=2)
    assert summary.total("records") == 11
    assert ods.tokens_issued == 2
    assert summary.tokens_fetched == 2


def test_throttling_is_waited_out_as_the_server_asks(rt, ods, slept):
    seed(ods)
    ods.fail("studentSchoolAttendanceEvents", 429, times=2, retry_after="7")
    summary = pull(rt, ods, slept)
    assert slept == [7.0, 7.0]
    assert summary.total("records") == 11


def test_a_server_failing_again_and_again_is_a_clear_error_and_the_watermark_stays(rt, ods, slept):
    ids = seed(ods)
    pull(rt, ods)
    ods.delete("studentSchoolAttendanceEvents", ids["studentSchoolAttendanceEvents"][0])
    ods.create("students", _student("604900", "Rae", "Lind", "2010-02-02"))
    ods.fail("studentSchoolAttendanceEvents", 500, times=10)
    messages_before = count_rows(rt, "messages")
    with pytest.raises(UpstreamFailed) as raised:
        pull(rt, ods, slept)
    text = str(raised.value)
    assert "500" in text
    assert "after 3 attempts" in text
    assert "/ods/data/v3/ed-fi/studentSchoolAttendanceEvents" in text
    assert "watermark was not moved" in text
    assert "minChangeVersion" not in text  # the path, never the query
    assert slept == [0.5, 1.0]
    assert watermark(rt, ods) == "11"
    assert count_rows(rt, "messages") == messages_before + 1  # the students page that did arrive is kept
    ods.faults.clear()
    summary = pull(rt, ods)  # the next run pulls the same window again
    assert (summary.watermark_from, summary.watermark_to) == (11, 13)
    assert ("2021-10-11", "excused-absence") not in attendance(rt)


def test_records_the_pipeline_holds_or_rejects_mark_the_summary_troubled(rt, ods):
    seed(ods)
    ods.create("studentSchoolAttendanceEvents", _event("999999", "2021-10-11"))  # nobody we know
    summary = pull(rt, ods)
    assert summary.troubled
    assert summary.total("held") == 1


def test_an_unknown_partner_or_unmapped_resource_is_refused_before_any_call(rt, ods):
    with pytest.raises(AccessDenied):
        pull_edfi(rt, source_org="nobody", base_url=ods.base_url, client_id="x", client_secret="y")
    with pytest.raises(InputInvalid) as raised:
        pull(rt, ods, resources=["students", "bellSchedules"])
    assert "bellSchedules" in str(raised.value)
    assert ods.seen == []


def test_an_explicit_resource_list_is_pulled_in_dependency_order(rt, ods):
    seed(ods)
    summary = pull(rt, ods, resources=["studentSchoolAssociations", "students"])
    assert [r.resource for r in summary.resources] == ["students", "studentSchoolAssociations"]
    assert enrollment_dates(rt) == ["2021-08-23"]


# -- spgw pull edfi ---------------------------------------------------------------------------


@pytest.fixture
def spgw(tmp_path, database_url, monkeypatch):
    from click.testing import CliRunner

    from gateway.cli import main

    monkeypatch.setenv("GATEWAY_DATABASE_URL", database_url)
    monkeypatch.setenv("ODS_SECRET", OdsConfig().client_secret)
    home = tmp_path / "gw"

    def run(*args: str):
        return CliRunner().invoke(main, ["--home", str(home), *args])

    assert run("init", "--with-samples", "--json").exit_code == 0
    return run


def _cli_pull(spgw, ods: EdFiOds, *extra: str):
    return spgw(
        "pull", "edfi", "--source", "grand-bend-isd", "--base-url", ods.base_url,
        "--client-id", ods.config.client_id, "--client-secret-env", "ODS_SECRET", *extra,
    )  # fmt: skip


def test_cli_pull_prints_a_summary_and_progress_and_never_the_secret(spgw, ods):
    seed(ods)
    result = _cli_pull(spgw, ods)
    assert result.exit_code == 0, result.output
    assert "full sync of grand-bend-isd: change version None -> 11" in result.stdout
    assert "records 11: accepted 11, rejected 0, held 0" in result.stdout
    assert "studentSchoolAttendanceEvents: 5 records in" in result.stdout
    assert result.stderr == ""  # no progress bar off a terminal
    assert ods.config.client_secret not in result.output


def test_cli_pull_json_then_delta_and_exit_3_when_something_is_held(spgw, ods):
    seed(ods)
    assert _cli_pull(spgw, ods, "--json").exit_code == 0
    ods.create("studentSchoolAttendanceEvents", _event("999999", "2021-10-11"))
    result = _cli_pull(spgw, ods, "--json", "--resource", "studentSchoolAttendanceEvents")
    assert result.exit_code == 3
    doc = json.loads(result.stdout)
    assert (doc["mode"], doc["watermark"], doc["held"]) == ("delta", {"from": 11, "to": 12}, 1)
    assert [r["resource"] for r in doc["resources"]] == ["studentSchoolAttendanceEvents"]


def test_cli_pull_without_the_secret_variable_says_so(spgw, ods, monkeypatch):
    monkeypatch.delenv("ODS_SECRET")
    result = _cli_pull(spgw, ods)
    assert result.exit_code == 2
    assert "ODS_SECRET is not set" in result.output
    assert ods.seen == []


def test_cli_pull_errors_are_the_gateway_error_shape(spgw, ods):
    seed(ods)
    ods.fail("/ed-fi/students", 403, times=1)
    result = _cli_pull(spgw, ods)
    assert result.exit_code == 1
    error = json.loads(result.stderr[result.stderr.index("{") :])["error"]
    assert error["code"] == "upstream_failed"
    assert "403" in error["message"]


def test_the_recorded_postman_bodies_pull_through_the_pipeline(rt, ods):
    from conftest import SHARED_SAMPLES

    bodies = SHARED_SAMPLES / "edfi" / "api-json" / "postman-request-bodies.json"
    if not bodies.exists():
        pytest.skip(f"shared Ed-Fi samples not found at {bodies}")
    for item in json.loads(bodies.read_text())["requests"]:
        ods.create(item["resource"], item["body"])
    summary = pull(rt, ods, resources=["students", "studentSchoolAssociations"])
    counts = {r.resource: (r.records, r.accepted, r.held) for r in summary.resources}
    assert counts["students"] == (1, 1, 0)
    # the recorded enrollment names a student (LIFECYCLE-TEST) the district never sent: held, not lost
    assert counts["studentSchoolAssociations"] == (1, 0, 1)
    assert summary.troubled


# -- reference data (issue 13): pulled like mapped resources, first, and forgotten when deleted


NAMESPACE = "uri://ed-fi.org/Assessment/Assessment.xml"
SCALE_SCORE = "uri://ed-fi.org/AssessmentReportingMethodDescriptor#Scale score"


def _assessment(identifier: str, title: str) -> dict:
    return {"assessmentIdentifier": identifier, "namespace": NAMESPACE, "assessmentTitle": title}


def _calendar_date(day: str) -> dict:
    calendar = {"calendarCode": "2022-HS", "schoolId": SCHOOL, "schoolYear": 2022}
    return {"date": day, "calendarReference": calendar, "calendarEvents": []}


def _score(uid: str, identifier: str) -> dict:
    return {
        "studentReference": {"studentUniqueId": uid},
        "assessmentReference": {"assessmentIdentifier": identifier, "namespace": NAMESPACE},
        "studentAssessmentIdentifier": f"{uid}-{identifier}",
        "administrationDate": "2021-10-05",
        "scoreResults": [{"assessmentReportingMethodDescriptor": SCALE_SCORE, "result": "1641"}],
    }


def kept(rt, entity: str) -> dict[str, dict]:
    """Natural key -> body of the reference records kept for the district."""
    with rt.sessions() as session:
        return {row.natural_key: row.body for row in records_of(session, "grand-bend-isd", entity)}


def assessment_titles(rt, student: str = LISA) -> set[str]:
    facts = coordinator_view(rt, student)["domains"]["academic"]["facts"]
    return {f["reference"]["title"] for f in facts if "reference" in f}


def test_reference_data_is_pulled_first_then_the_mapped_resources(rt):
    names = pullable_resources(rt)
    references, mapped = reference_resources(rt), mapped_resources(rt)
    assert names == references + mapped
    assert {"assessments", "gradebookEntries", "schools", "sections"} <= set(references)
    assert not set(references) & set(mapped)


def test_a_full_sync_keeps_reference_data_and_the_plan_read_shows_its_title(rt, ods):
    seed(ods)
    ods.load(
        "assessments", [_assessment("STAAR-R3", "Grade 3 Reading"), _assessment("STAAR-M3", "Grade 3 Math")]
    )
    ods.create("studentAssessments", _score("604822", "STAAR-R3"))
    summary = pull(rt, ods, page_size=1)
    order = [r.resource for r in summary.resources]
    assert order.index("assessments") < order.index("students") < order.index("studentAssessments")
    assessments = next(r for r in summary.resources if r.resource == "assessments")
    assert (assessments.pages, assessments.records, assessments.accepted) == (2, 2, 2)
    assert sorted(kept(rt, "assessments")) == [f"STAAR-M3|{NAMESPACE}", f"STAAR-R3|{NAMESPACE}"]
    assert assessment_titles(rt) == {"Grade 3 Reading"}


@pytest.mark.parametrize("paging", ["offset", "cursor"])
def test_an_explicit_reference_resource_is_pulled_alone_page_by_page(rt, paging):
    with running_ods(OdsConfig(version="7.3")) as ods:
        ods.load("assessments", [_assessment(f"A-{n}", f"Test {n}") for n in range(5)])
        summary = pull(rt, ods, resources=["assessments"], page_size=2, paging=paging)
    assert [r.resource for r in summary.resources] == ["assessments"]
    assert (summary.resources[0].records, summary.resources[0].accepted) == (5, 5)
    assert len(kept(rt, "assessments")) == 5
    assert {s.path.rsplit("/", 1)[-1] for s in ods.data_calls()} == {"assessments"}


def test_a_delta_sync_replaces_forgets_and_rekeys_reference_records(rt, ods):
    ids = ods.load(
        "assessments",
        [
            _assessment("STAAR-R3", "Grade 3 Reading"),
            _assessment("STAAR-M3", "Grade 3 Math"),
            _assessment("OLD", "x"),
        ],
    )
    ods.create("students", _student("604822", "Lisa", "Woods", "2008-09-13"))
    ods.create("studentAssessments", _score("604822", "STAAR-R3"))
    pull(rt, ods, resources=["assessments", "students", "studentAssessments"])
    ods.update("assessments", ids[0], _assessment("STAAR-R3", "Grade 3 Reading (2022 form)"))
    ods.delete("assessments", ids[1])
    ods.update("assessments", ids[2], _assessment("NEW", "Renamed"))  # a key change
    summary = pull(rt, ods, resources=["assessments"])
    assert summary.mode == "delta"
    [tally] = summary.resources
    assert (tally.deletes_seen, tally.deletes_applied) == (1, 1)
    assert (tally.key_changes_seen, tally.key_changes_applied) == (1, 1)
    assert tally.records == 2  # the replaced one and the re-keyed one
    assert sorted(kept(rt, "assessments")) == [f"NEW|{NAMESPACE}", f"STAAR-R3|{NAMESPACE}"]
    assert assessment_titles(rt) == {"Grade 3 Reading (2022 form)"}


def test_a_deleted_calendar_date_is_forgotten_even_with_a_midnight_date_key(rt, ods):
    ids = ods.load("calendarDates", [_calendar_date("2021-10-11"), _calendar_date("2021-10-12")])
    pull(rt, ods, resources=["calendarDates"])
    ods.delete("calendarDates", ids[0])
    ods.state.deletes["calendarDates"][0]["keyValues"]["date"] = (
        "2021-10-11T00:00:00"  # as some servers write it
    )
    ods.state.deletes["calendarDates"].append(
        {"id": "x", "changeVersion": 3, "keyValues": {"date": "2021-10-12"}}
    )
    summary = pull(rt, ods, resources=["calendarDates"])
    [tally] = summary.resources
    assert (tally.deletes_seen, tally.deletes_applied) == (2, 1)
    assert [p for p in tally.problems if "calendarCode, schoolId, schoolYear" in p]  # the row without its key
    assert sorted(kept(rt, "calendarDates")) == [f"2021-10-12|2022-HS|{SCHOOL}|2022"]


def test_an_ignored_resource_is_refused_naming_what_can_be_pulled(rt, ods):
    with pytest.raises(InputInvalid) as raised:
        pull(rt, ods, resources=["assessments", "disciplineIncidents", "academicSubjectDescriptors"])
    issues = {i.path: i.message for i in raised.value.issues}
    assert set(issues) == {"--resource disciplineIncidents", "--resource academicSubjectDescriptors"}
    for message in issues.values():
        assert message.startswith("the gateway ignores it (")
        assert "reference-data resources are: " in message
        assert "assessments" in message
        assert "studentAssessments" in message
    assert ods.seen == []


@pytest.mark.parametrize("status", [403, 404])
def test_a_default_sync_leaves_out_a_reference_resource_the_server_refuses(rt, ods, status):
    seed(ods)
    ods.load("schools", [{"schoolId": SCHOOL, "nameOfInstitution": "Grand Bend High School"}])
    ods.fail("/ed-fi/assessments", status, times=1)
    summary = pull(rt, ods)
    tallies = {r.resource: r for r in summary.resources}
    assert tallies["assessments"].records == 0
    [problem] = tallies["assessments"].problems
    assert f"answered {status}" in problem
    assert "left out of this pull" in problem
    assert tallies["schools"].accepted == 1
    assert enrollment_dates(rt) == ["2021-08-23"]
    assert watermark(rt, ods) is not None


def test_an_explicit_reference_resource_the_server_refuses_fails_the_pull(rt, ods, slept):
    ods.fail("/ed-fi/assessments", 403, times=1)
    with pytest.raises(UpstreamFailed):
        pull(rt, ods, slept, resources=["assessments"])
    assert watermark(rt, ods) is None
