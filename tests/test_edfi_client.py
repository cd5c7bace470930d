"""The Ed-Fi ODS/API client against a real local HTTP server: discovery, tokens, paging, change
versions, back-off and the two error body shapes; natural keys of change-query rows."""

from __future__ import annotations

import email.utils
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from edfi_ods_server import EdFiOds, OdsConfig, running_ods
from test_edfi_pull import _enrollment, _event, seed

from gateway.artifacts import load_artifacts
from gateway.clients.edfi_api import ChangeWindow, EdFiClient, parse_change_versions
from gateway.clients.edfi_auth import ClientCredentials
from gateway.clients.edfi_errors import body_issues
from gateway.clients.edfi_http import RetryPolicy
from gateway.errors import UpstreamFailed
from gateway.service.sources.edfi_keys import key_names, source_id_from


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


OPEN: list[EdFiClient] = []


@pytest.fixture(autouse=True)
def _close_clients():
    # An open keep-alive connection would hold the test server's shutdown.
    yield
    while OPEN:
        OPEN.pop().close()


@contextmanager
def ods_with(config: OdsConfig | None = None) -> Iterator[EdFiOds]:
    with running_ods(config) as server:
        try:
            yield server
        finally:
            while OPEN:
                OPEN.pop().close()


@pytest.fixture
def ods():
    with ods_with() as server:
        yield server


def client_for(
    ods: EdFiOds, *, slept: list | None = None, secret: str | None = None, **options
) -> EdFiClient:
    retry = RetryPolicy(attempts=3, sleep=(slept if slept is not None else []).append, jitter=lambda: 0.5)
    credentials = ClientCredentials(
        client_id=ods.config.client_id, client_secret=secret or ods.config.client_secret
    )
    client = EdFiClient(ods.base_url, credentials, retry=retry, **options)
    OPEN.append(client)
    return client


def all_items(client: EdFiClient, resource: str, window: ChangeWindow | None = None) -> list[dict]:
    return [item for page in client.pages(resource, window) for item in page.items]


# -- discovery --------------------------------------------------------------------------------


def test_discovery_gives_the_base_paths(ods):
    found = client_for(ods).discover()
    assert found.data_management_url == f"{ods.host}/ods/data/v3"
    assert found.oauth_url == f"{ods.host}/ods/oauth/token"
    assert found.change_queries_url == f"{ods.host}/ods/changeQueries/v1"
    assert found.data_models == (("Ed-Fi", "5.0.0"),)
    assert not found.offers_cursor_paging


@pytest.mark.parametrize(
    ("version", "cursor"), [("5.3", False), ("6.2", False), ("7.2", False), ("7.3", True), ("7.3.1", True)]
)
def test_cursor_paging_is_offered_from_7_3(version, cursor):
    with ods_with(OdsConfig(version=version)) as ods:
        assert client_for(ods).discover().offers_cursor_paging is cursor


def test_a_url_that_is_not_an_ods_api_root_says_what_to_pass(ods):
    client = EdFiClient(ods.host + "/elsewhere", ClientCredentials(client_id="a", client_secret="b"))
    OPEN.append(client)
    with pytest.raises(UpstreamFailed) as raised:
        client.discover()
    assert "404" in raised.value.message


def test_a_discovery_document_without_urls_is_refused_with_the_remedy():
    from gateway.clients.edfi_api import parse_discovery

    with pytest.raises(UpstreamFailed) as raised:
        parse_discovery({"version": "7.1", "urls": {"oauth": "x"}}, "http://ods/api/")
    assert "urls.dataManagementApi" in raised.value.message
    assert "--base-url must be the ODS/API root" in str(raised.value)


# -- tokens -----------------------------------------------------------------------------------


def test_wrong_credentials_fail_clearly_without_the_secret(ods):
    client = client_for(ods, secret="wrong-secret-xyz")
    with pytest.raises(UpstreamFailed) as raised:
        all_items(client, "students")
    text = str(raised.value) + repr(raised.value.to_dict())
    assert "answered 401 to POST /ods/oauth/token" in text
    assert "invalid_client" in text
    assert "client id and secret" in text
    assert "wrong-secret-xyz" not in text
    assert "wrong-secret-xyz" not in repr(client.credentials)


def test_the_token_is_renewed_shortly_before_it_expires(ods):
    ods.config.token_lifetime = 60
    seed(ods)
    clock = FakeClock()
    client = client_for(ods, clock=clock)
    all_items(client, "students")
    clock.now += 50  # inside the lifetime, before the early-renewal margin (6 s)
    all_items(client, "students")
    assert ods.tokens_issued == 1
    clock.now += 5
    all_items(client, "students")
    assert ods.tokens_issued == 2
    assert not any(s for s in ods.seen if s.path.endswith("/students") and s.authorization == "")


def test_a_refused_token_is_renewed_once(ods):
    seed(ods)
    client = client_for(ods)
    all_items(client, "students")
    ods.revoke_tokens()
    assert len(all_items(client, "students")) == 3
    assert ods.tokens_issued == 2


def test_a_token_refused_twice_is_an_error_not_a_loop(ods):
    seed(ods)
    ods.fail("/ed-fi/students", 401, times=5)
    with pytest.raises(UpstreamFailed, match="answered 401 to GET /ods/data/v3/ed-fi/students"):
        all_items(client_for(ods), "students")
    assert ods.tokens_issued == 2


# -- paging -----------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 3, 5, 500])
def test_offset_and_cursor_paging_give_the_same_records(size):
    with ods_with(OdsConfig(version="7.3")) as ods:
        seed(ods)
        offset = all_items(client_for(ods, page_size=size, paging="offset"), "studentSchoolAttendanceEvents")
        cursor = all_items(client_for(ods, page_size=size, paging="cursor"), "studentSchoolAttendanceEvents")
        assert any("pageToken" in s.query for s in ods.seen) is (size < 5)
    assert len(offset) == 5
    assert cursor == offset


def test_offset_paging_asks_the_total_once_and_stops_at_it(ods):
    seed(ods)
    pages = list(client_for(ods, page_size=2).pages("studentSchoolAttendanceEvents"))
    assert [len(p.items) for p in pages] == [2, 2, 1]
    assert {p.total for p in pages} == {5}
    calls = [s.query for s in ods.data_calls()]
    assert [c.get("totalCount") for c in calls] == ["true", None, None]
    assert [c["offset"] for c in calls] == ["0", "2", "4"]


def test_a_page_size_above_the_ods_maximum_is_clamped_to_500(ods):
    seed(ods)
    all_items(client_for(ods, page_size=5000), "students")
    assert ods.data_calls()[0].query["limit"] == "500"


def test_deletes_and_key_changes_use_offset_paging_even_on_7_3():
    with ods_with(OdsConfig(version="7.3")) as ods:
        ids = seed(ods)
        ods.update(
            "studentSchoolAssociations",
            ids["studentSchoolAssociations"][0],
            _enrollment("604822", "2021-09-02"),
        )
        ods.delete("studentSchoolAttendanceEvents", ids["studentSchoolAttendanceEvents"][0])
        client = client_for(ods)
        window = ChangeWindow(low=12, high=13)
        changes = [i for p in client.key_changes("studentSchoolAssociations", window) for i in p.items]
        deletes = [i for p in client.deletes("studentSchoolAttendanceEvents", window) for i in p.items]
    assert changes[0]["oldKeyValues"]["entryDate"] == "2021-08-23"
    assert changes[0]["newKeyValues"]["entryDate"] == "2021-09-02"
    assert deletes[0]["keyValues"]["eventDate"] == "2021-10-11"


def test_a_change_window_selects_by_change_version(ods):
    seed(ods)
    ods.create("studentSchoolAttendanceEvents", _event("604822", "2021-11-01"))
    client = client_for(ods)
    assert client.available_change_versions().newest == 12
    assert [
        i["eventDate"]
        for i in all_items(client, "studentSchoolAttendanceEvents", ChangeWindow(low=12, high=12))
    ] == ["2021-11-01"]


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"oldestChangeVersion": 0, "newestChangeVersion": 24822}, (0, 24822)),  # 6.0+
        ({"OldestChangeVersion": 3, "NewestChangeVersion": 9}, (3, 9)),  # 5.x
        ({"oldestchangeversion": "1", "NEWESTCHANGEVERSION": "2"}, (1, 2)),
    ],
)
def test_available_change_versions_in_any_case(doc, expected):
    versions = parse_change_versions(doc, "http://ods/changeQueries/v1/availableChangeVersions")
    assert (versions.oldest, versions.newest) == expected


def test_change_versions_that_are_not_there_are_an_error():
    with pytest.raises(UpstreamFailed, match="oldest and newest change versions"):
        parse_change_versions({"newest": 1}, "http://ods/changeQueries/v1/availableChangeVersions")


# -- back-off ---------------------------------------------------------------------------------


def test_throttling_honours_retry_after_then_succeeds(ods):
    seed(ods)
    slept: list[float] = []
    ods.fail("/ed-fi/students", 429, times=2, retry_after="2")
    assert len(all_items(client_for(ods, slept=slept), "students")) == 3
    assert slept == [2.0, 2.0]


def test_server_errors_back_off_exponentially_with_jitter_then_give_up(ods):
    seed(ods)
    slept: list[float] = []
    ods.fail("/ed-fi/students", 503, times=3)
    with pytest.raises(UpstreamFailed) as raised:
        all_items(client_for(ods, slept=slept), "students")
    assert slept == [0.75, 1.25]  # 0.5 * 2^(n-1) + 0.5 * jitter(0.5)
    assert "answered 503 to GET /ods/data/v3/ed-fi/students after 3 attempts" in str(raised.value)


def test_an_unreachable_server_is_retried_then_named():
    slept: list[float] = []
    client = EdFiClient(
        "http://127.0.0.1:9",
        ClientCredentials(client_id="a", client_secret="b"),
        retry=RetryPolicy(attempts=2, sleep=slept.append, jitter=lambda: 0.0),
    )
    with pytest.raises(UpstreamFailed, match="could not be reached for GET / after 2 attempts"):
        client.discover()
    assert slept == [0.5]


@pytest.mark.parametrize(
    ("attempt", "retry_after", "expected"),
    [
        # no Retry-After: exponential back-off plus jitter, capped
        (1, None, 0.5 + 0.25),
        (3, None, 2.0 + 0.25),
        (10, None, 30.0),
        # Retry-After in seconds, honoured up to the bound
        (1, "12", 12.0),
        (1, "100000", 300.0),
        # Retry-After as an HTTP date, 40 s after "now"
        (1, email.utils.formatdate(1_700_000_040, usegmt=True), 40.0),
        (1, "not a date", 0.5 + 0.25),
    ],
)
def test_retry_delays(attempt, retry_after, expected):
    policy = RetryPolicy(jitter=lambda: 0.5, wall_clock=lambda: 1_700_000_000.0)
    assert policy.delay(attempt, retry_after) == pytest.approx(expected)


# -- error bodies -----------------------------------------------------------------------------


def test_a_problem_details_body_becomes_issues_with_its_field_paths(ods):
    seed(ods)
    ods.fail("/ed-fi/students", 400, shape="problem")
    with pytest.raises(UpstreamFailed) as raised:
        all_items(client_for(ods), "students")
    error = raised.value
    assert error.message == "Ed-Fi ODS/API answered 400 to GET /ods/data/v3/ed-fi/students"
    issues = [(i.path, i.message) for i in error.issues]
    assert ("$.limit", "Limit must be omitted or set to a value between 1 and 500.") in issues
    head = issues[0][1]
    assert issues[0][0] == "GET /ods/data/v3/ed-fi/students"
    assert "urn:ed-fi:api:bad-request:parameter-validation-failed" in head
    assert "correlation id c0ffee00-test" in head
    assert error.to_dict()["error"]["code"] == "upstream_failed"


def test_a_message_body_becomes_one_issue(ods):
    seed(ods)
    ods.fail("/ed-fi/students", 403)
    with pytest.raises(UpstreamFailed) as raised:
        all_items(client_for(ods), "students")
    messages = [i.message for i in raised.value.issues]
    assert messages[0] == "An unexpected error occurred on the server."
    assert "claim set" in messages[-1]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            b'{"message": "Validation of \'Student\' failed. LastSurname is required."}',
            [("$", "Validation of 'Student' failed. LastSurname is required.")],
        ),
        (
            b'{"detail": "Data validation failed.",'
            b' "type": "urn:ed-fi:api:bad-request:data-validation-failed",'
            b' "validationErrors": {"$.birthDate": ["The field birthDate must be a valid date."]},'
            b' "errors": []}',
            [
                ("$", "[urn:ed-fi:api:bad-request:data-validation-failed] Data validation failed."),
                ("$.birthDate", "The field birthDate must be a valid date."),
            ],
        ),
        (b'{"error": "invalid_client"}', [("$", "invalid_client")]),
        (b"<html>gateway timeout</html>", []),
        (b"", []),
        (b"[1, 2]", []),
    ],
)
def test_error_bodies(body, expected):
    assert [(i.path, i.message) for i in body_issues(body, "$")] == expected


def test_long_server_texts_are_cut_short():
    body = b'{"message": "' + b"x" * 1000 + b'"}'
    assert len(body_issues(body, "$")[0].message) == 200


# -- natural keys of change-query rows --------------------------------------------------------


@pytest.fixture(scope="module")
def mappings():
    return load_artifacts().mappings


@pytest.mark.parametrize(
    ("entity", "values", "expected"),
    [
        ("students", {"studentUniqueId": "604822"}, "604822"),
        (
            "studentSchoolAssociations",
            {"entryDate": "2021-08-23", "schoolId": 255901001, "studentUniqueId": "604822"},
            "604822|255901001|2021-08-23",
        ),
        # a date key rendered as a midnight date-time still names the record
        (
            "studentSchoolAssociations",
            {"entryDate": "2021-08-23T00:00:00", "schoolId": 255901001, "studentUniqueId": "604822"},
            "604822|255901001|2021-08-23",
        ),
        (
            "studentSchoolAttendanceEvents",
            {
                "attendanceEventCategoryDescriptor": "uri://ed-fi.org/AttendanceEventCategoryDescriptor#Tardy",
                "eventDate": "2021-10-12",
                "schoolId": 255901001,
                "schoolYear": 2022,
                "sessionName": "2021-2022 Fall Semester",
                "studentUniqueId": "604822",
            },
            "604822|255901001|2021-10-12|uri://ed-fi.org/AttendanceEventCategoryDescriptor#Tardy",
        ),
        # ODS/API 5.3 deletes without keyValues cannot name a record
        ("studentSchoolAssociations", {}, None),
        ("studentSchoolAssociations", {"entryDate": "2021-08-23", "schoolId": 255901001}, None),
    ],
)
def test_source_ids_from_key_values(mappings, entity, values, expected):
    assert source_id_from(mappings[("edfi-json", entity)], values) == expected


@pytest.mark.parametrize(
    ("path", "names"),
    [
        ("$.studentUniqueId", ("studentUniqueId",)),
        ("$.schoolReference.schoolId", ("schoolId",)),
        ("$.gradingPeriodReference.schoolYear", ("gradingPeriodSchoolYear", "schoolYear")),
        ("$.studentReference.studentUniqueId", ("studentUniqueId",)),
        ("$.sessionReference.schoolYear", ("sessionSchoolYear", "schoolYear")),
    ],
)
def test_key_names_prefer_the_parent_prefixed_name(path, names):
    from gateway.core.paths import parse_path

    assert key_names(parse_path(path)) == names
