"""OneRoster REST: the parser's record shapes, the client against a real local HTTP service
(token renewal and 401 re-auth mid-pull, paging by X-Total-Count, 429/5xx back-off), the pull."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from helpers import DISTRICT_IDS
from oneroster_helpers import SOURCE, elements_from, plan_of, register_students
from oneroster_server import CLIENT_ID, CLIENT_SECRET, enrollment_12, ref, running_oneroster, user_12

from gateway.cli import main
from gateway.clients.oneroster_api import OneRosterClient, collection_path
from gateway.errors import UpstreamFailed
from gateway.formats import parse_payload
from gateway.service.identity.guardian_links import list_guardians
from gateway.service.sources.oneroster_pull import pull_oneroster


@pytest.fixture
def service():
    with running_oneroster() as running:
        yield running


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _client(service, **options) -> OneRosterClient:
    return OneRosterClient(
        base_url=service.base_url,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        sleep=options.pop("sleep", lambda _s: None),
        **options,
    )


# -- parser: REST objects become CSV-shaped rows ------------------------------------------------


@pytest.mark.parametrize(
    ("collection", "item", "entity", "expected"),
    [
        # 1.2 user: roles[] -> role, grades list -> comma list, userIds -> {type:identifier}, metadata dropped
        (
            "users",
            user_12("900001"),
            "users",
            {
                "sourcedId": "900001",
                "role": "student",
                "grades": "10",
                "userIds": "{Local:001}",
                "enabledUser": "true",
            },
        ),
        ("users", user_12("800001", role="teacher"), "nonstudent-users", {"role": "teacher"}),
        # 1.1 user: role and orgs references
        (
            "users",
            {"sourcedId": "9", "role": "student", "orgs": [{"sourcedId": "s-1"}, {"sourcedId": "s-2"}]},
            "users",
            {"orgSourcedIds": "s-1,s-2"},
        ),
        # the Ed-Fi OneRoster service's 'grade'
        (
            "students",
            {"sourcedId": "9", "roles": [{"roleType": "primary", "role": "student"}], "grade": "09"},
            "users",
            {"grades": "09"},
        ),
        (
            "enrollments",
            enrollment_12("e-1", "900001"),
            "enrollments",
            {
                "userSourcedId": "900001",
                "classSourcedId": "k-bio-1",
                "schoolSourcedId": "s-1",
                "primary": "false",
            },
        ),
        (
            "enrollments",
            enrollment_12("e-1", "900001", status="tobedeleted"),
            "deactivations",
            {"file": "enrollments"},
        ),
        (
            "results",
            {
                "sourcedId": "r-1",
                "lineItem": {"sourcedId": "li-1"},
                "student": {"sourcedId": "900001"},
                "scoreStatus": "fully graded",
                "score": 46,
                "scoreDate": "2025-09-06",
            },
            "results",
            {"lineItemSourcedId": "li-1", "studentSourcedId": "900001", "score": "46"},
        ),
    ],
)
def test_rest_objects_map_to_the_csv_row_shape(collection, item, entity, expected):
    parsed = parse_payload("oneroster-rest", json.dumps({collection: [item]}).encode(), collection)
    assert parsed.problems == ()
    (rec,) = parsed.records
    assert rec.entity == entity
    assert expected.items() <= rec.data.items()
    assert "metadata" not in rec.data


def test_rest_problems_are_located_by_json_path():
    body = {
        "enrollments": [
            enrollment_12("e-1", "900001"),
            {**enrollment_12("e-2", "9"), "beginDate": "18/08/2025"},
        ]
    }
    parsed = parse_payload("oneroster-rest", json.dumps(body).encode(), "enrollments")
    assert len(parsed.records) == 1
    assert [i.path for p in parsed.problems for i in p.issues] == ["$.enrollments[1].beginDate"]


@pytest.mark.parametrize(
    ("version", "collection", "path"),
    [
        ("1.1", "users", "/ims/oneroster/v1p1/users"),
        ("1.1", "results", "/ims/oneroster/v1p1/results"),
        ("1.2", "users", "/ims/oneroster/rostering/v1p2/users"),
        ("1.2", "results", "/ims/oneroster/gradebook/v1p2/results"),
    ],
)
def test_collection_paths_per_version(version, collection, path):
    assert collection_path(version, collection) == path


# -- client against the local service -----------------------------------------------------------


def test_paging_follows_x_total_count(service):
    service.collections["users"] = [user_12(f"9000{i:02d}") for i in range(7)]
    pages = list(_client(service).pages("users", page_size=3))
    assert [(p.offset, p.count, p.total) for p in pages] == [(0, 3, 7), (3, 3, 7), (6, 1, 7)]
    assert [r[1] for r in service.requests] == [
        {"limit": "3", "offset": "0"},
        {"limit": "3", "offset": "3"},
        {"limit": "3", "offset": "6"},
    ]


def test_the_token_is_renewed_before_it_expires_mid_pull(service):
    service.collections["users"] = [user_12(f"9000{i:02d}") for i in range(4)]
    service.token_lifetime = 100
    clock = FakeClock()
    client = _client(service, clock=clock)
    pages = client.pages("users", page_size=2)
    next(pages)
    clock.now = 95.0  # within the renewal margin (a tenth of the lifetime)
    next(pages)
    assert service.token_requests == 2


def test_a_401_mid_pull_re_authenticates_once(service):
    service.collections["users"] = [user_12(f"9000{i:02d}") for i in range(4)]
    pages = _client(service).pages("users", page_size=2)
    next(pages)
    service.revoke_tokens()
    assert next(pages).count == 2
    assert service.token_requests == 2


def test_bad_credentials_are_refused_with_status_not_body(service):
    client = OneRosterClient(base_url=service.base_url, client_id=CLIENT_ID, client_secret="wrong")
    with pytest.raises(UpstreamFailed) as caught:
        list(client.pages("users"))
    assert "HTTP 401" in caught.value.issues[0].message


def test_429_and_5xx_are_retried_with_back_off_then_given_up(service):
    service.collections["users"] = [user_12("900001")]
    slept: list[float] = []
    service.answer(429, 503)
    assert [p.count for p in _client(service, sleep=slept.append).pages("users")] == [1]
    assert slept == [0.5, 1.0]
    service.answer(500, 500, 500)
    with pytest.raises(UpstreamFailed) as caught:
        list(_client(service, sleep=slept.append, max_retries=2).pages("users"))
    assert "imsx_codeMajor failure" in caught.value.issues[0].message


# -- the pull ----------------------------------------------------------------------------------


def _pull(rt, service, **options):
    return pull_oneroster(
        rt,
        source_org=SOURCE,
        base_url=service.base_url,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        client=options.pop("client", None) or _client(service),
        resources=options.pop("resources", ("users", "enrollments")),
        page_size=2,
        **options,
    )


def test_a_pull_maps_into_the_same_plans_as_csv_and_retracts_what_is_gone(rt, service):
    register_students(rt, "900001", "900002")
    service.collections["users"] = [user_12("900001"), user_12("900002"), user_12("800001", role="teacher")]
    service.collections["enrollments"] = [enrollment_12("e-1", "900001"), enrollment_12("e-2", "900002")]
    summary = _pull(rt, service)
    assert summary.to_dict()["accepted"] == 4
    assert summary.to_dict()["ignored"] == 1
    assert [r.pages for r in summary.resources] == [2, 1]
    assert len(elements_from(plan_of(rt, "900002"), "enrollments")) == 1
    service.collections["enrollments"] = [enrollment_12("e-1", "900001", status="tobedeleted")]
    again = _pull(rt, service, resources=("enrollments",))
    assert again.resources[0].retracted == 2  # e-2 no longer listed, e-1 tobedeleted
    assert elements_from(plan_of(rt, "900001"), "enrollments") == []


def test_a_pulled_guardian_is_linked_while_the_users_collection_names_the_student(rt, service):
    register_students(rt, "900001", "900002")
    guardian = user_12("777001", role="guardian")
    students = [user_12("900001"), user_12("900002")]
    service.collections["users"] = [
        *students,
        {**guardian, "agents": [ref("user", "900001"), ref("user", "900002")]},
    ]
    _pull(rt, service, resources=("users",))
    assert [len(list_guardians(rt, f"{DISTRICT_IDS}|{s}")) for s in ("900001", "900002")] == [1, 1]
    service.collections["users"] = [*students, {**guardian, "agents": [ref("user", "900002")]}]
    again = _pull(rt, service, resources=("users",))
    assert again.resources[0].retracted == 1  # the link to 900001 is gone
    assert [len(list_guardians(rt, f"{DISTRICT_IDS}|{s}")) for s in ("900001", "900002")] == [0, 1]


def test_a_pull_that_fails_part_way_retracts_nothing(rt, service):
    register_students(rt, "900001", "900002")
    service.collections["enrollments"] = [enrollment_12("e-1", "900001"), enrollment_12("e-2", "900002")]
    _pull(rt, service, resources=("enrollments",))
    service.collections["enrollments"] = [enrollment_12(f"e-{i}", "900001") for i in (1, 7, 8)]
    service.answer(200, 500)  # the first page arrives, the second fails
    with pytest.raises(UpstreamFailed):
        _pull(rt, service, resources=("enrollments",), client=_client(service, max_retries=0))
    assert len(elements_from(plan_of(rt, "900002"), "enrollments")) == 1


def test_spgw_pull_oneroster(rt, settings, service, monkeypatch):
    register_students(rt, "900001")
    service.collections["users"] = [user_12("900001")]
    monkeypatch.setenv("OR_SECRET", CLIENT_SECRET)
    env = {"GATEWAY_HOME": str(settings.home), "GATEWAY_DATABASE_URL": settings.database_url}
    args = [
        "pull",
        "oneroster",
        "--source",
        SOURCE,
        "--base-url",
        service.base_url,
        "--client-id",
        CLIENT_ID,
        "--client-secret-env",
        "OR_SECRET",
        "--resource",
        "users",
        "--json",
    ]
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["accepted"] == 1


def test_a_pull_counts_lenient_readings_per_field_over_all_pages(rt, service):
    register_students(rt, "900001", "900002", "900003")
    quirky = {"enabledUser": "TRUE", "status": "Active"}
    service.collections["users"] = [{**user_12(i), **quirky} for i in ("900001", "900002", "900003")]
    summary = _pull(rt, service, resources=("users",))  # two pages of at most two
    assert summary.to_dict()["accepted"] == 3
    (users,) = summary.to_dict()["resources"]
    assert sorted((w["column"], w["rule"], w["count"], w["lines"]) for w in users["warnings"]) == [
        ("enabledUser", "boolean TRUE read as true", 3, [0, 1, 2]),  # item indexes in the collection
        ("status", "Active read as active", 3, [0, 1, 2]),
    ]
    service.collections["users"] = [{**user_12("900001"), "status": "ToBeDeleted"}]
    again = _pull(rt, service, resources=("users",))
    assert again.resources[0].retracted == 3  # the cased deletion counts like tobedeleted
