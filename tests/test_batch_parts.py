"""core.batch_parts: a batch settled in parts of a few students gives the outcomes and writes of
settling it whole, and no student's records are ever split between parts."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from test_core_batch import (
    DISTRICT,
    EMPTY,
    NOW,
    absence,
    enrolment,
    rec,
    rules,
    sender,
    student,
)

from gateway.core import batch, batch_parts, batch_settle
from gateway.core.identity import student_id_for


def _prepared(subjects: list[tuple[tuple[str, str], ...]]) -> batch.Prepared:
    """Records that only have subjects: what the grouping reads."""
    mapped = {
        i: SimpleNamespace(result=SimpleNamespace(subject=subject)) for i, subject in enumerate(subjects)
    }
    return batch.Prepared(mapped=mapped, outcomes={})  # type: ignore[arg-type]


def _id(value: str) -> tuple[str, str]:
    return (DISTRICT, value)


def _parts_of(prepared: batch.Prepared, links: dict[Any, str], most: int) -> list[list[int]]:
    return [sorted(part.mapped) for part in batch_parts.parts(prepared, links, most)]


@pytest.mark.parametrize(
    ("subjects", "links", "most", "expected"),
    [
        # few records: one part, untouched
        ([(_id("a"),), (_id("b"),)], {}, 2, [[0, 1]]),
        # one student a part, each student's records together, in record order
        ([(_id("a"),), (_id("b"),), (_id("a"),), (_id("c"),)], {}, 1, [[0, 2], [1], [3]]),
        # two students a part
        ([(_id("a"),), (_id("b"),), (_id("c"),), (_id("a"),), (_id("d"),)], {}, 2, [[0, 1, 3], [2, 4]]),
        # a record naming two identifiers joins them (a student record carrying a second id)
        ([(_id("a"),), (_id("b"),), (_id("a"), _id("b")), (_id("c"),)], {}, 1, [[0, 1, 2], [3]]),
        # two identifiers stored as links to one student are one student
        ([(_id("a"),), (_id("c"),), (_id("b"),)], {_id("a"): "s1", _id("b"): "s1"}, 1, [[0, 2], [1]]),
        # a record naming no one is a group of its own
        ([(), (_id("a"),), ()], {}, 1, [[0], [1], [2]]),
        # more records than a part holds students, all of one student: one part
        ([(_id("a"),)] * 3, {}, 1, [[0, 1, 2]]),
    ],
    ids=[
        "whole",
        "by-student",
        "two-a-part",
        "joined-by-record",
        "joined-by-link",
        "no-subject",
        "one-student",
    ],
)
def test_parts_keep_each_student_whole(subjects, links, most, expected):
    assert _parts_of(_prepared(subjects), links, most) == expected


def test_outcomes_prepare_gave_go_with_the_first_part(artifacts):
    records = [rec("noSuchEntity", {}, 0)] + [rec("students", student(str(n)), n) for n in range(1, 4)]
    prepared = batch.prepare(records, sender(), rules(artifacts))
    parts = batch_parts.parts(prepared, {}, 1)
    assert [sorted(p.outcomes) for p in parts] == [[0], [], []]
    assert [sorted(p.mapped) for p in parts] == [[1], [2], [3]]


def _mixed_batch(uids: list[str]) -> list[Any]:
    """Students, enrolments and absences of several students, interleaved day by day, with a
    record no mapping reads and an enrolment of a student nobody sent."""
    records: list[Any] = []
    for uid in uids:
        records.append(rec("students", student(uid), len(records)))
    records.append(rec("noSuchEntity", {}, len(records)))
    for uid in uids:
        records.append(rec("studentSchoolAssociations", enrolment(uid), len(records)))
    records.append(rec("studentSchoolAssociations", enrolment("unknown"), len(records)))
    for day in ("2026-09-01", "2026-09-02", "2026-09-03"):
        for uid in uids:
            records.append(rec("studentSchoolAttendanceEvents", absence(uid, day), len(records)))
    return records


class _Store:
    """What the service's writes leave for the next part to read (links, plans, event keys; no
    stored events: a student's events are all in one part)."""

    def __init__(self) -> None:
        self.links: dict[tuple[str, str], str] = {}
        self.plans: dict[str, Any] = {}
        self.event_keys: dict[str, str] = {}

    def snapshot(self, part: batch.Prepared) -> batch.Snapshot:
        return batch.Snapshot(
            links={i: s for i, s in self.links.items() if i in part.identifiers()},
            plans=dict(self.plans),
            event_keys=dict(self.event_keys),
        )

    def apply(self, writes: batch.BatchWrites) -> None:
        self.links.update({(system, value): sid for system, value, sid in writes.links})
        self.plans.update({sid: writes.plans[sid] for sid in writes.plans})
        self.event_keys.update({row["element_id"]: row["content_key"] for row in writes.events})


@pytest.mark.parametrize("most", [1, 2, 3, 100])
def test_settling_in_parts_gives_what_settling_whole_gives(artifacts, most):
    uids = ["101", "102", "103", "104", "105"]
    r = rules(artifacts)
    prepared = batch.prepare(_mixed_batch(uids), sender(), r)
    whole = batch_settle.settle(prepared, EMPTY, sender(), r, NOW)

    store, results = _Store(), []
    parts = batch_parts.parts(prepared, {}, most)
    assert len(parts) == (1 if most >= len(prepared.mapped) else -(-(len(uids) + 1) // most))
    events: list[dict[str, Any]] = []
    for part in parts:
        snapshot = store.snapshot(part)
        # what the earlier parts stored names none of this part's identifiers: the batch's one read holds
        assert batch_parts.links_within(part, {}) == snapshot.links
        result = batch_settle.settle(part, snapshot, sender(), r, NOW)
        store.apply(result.writes)
        events.extend(result.writes.events)
        results.append(batch_parts.written(result))
    together = results[0] if len(results) == 1 else batch_parts.combined(results, prepared)

    assert together.outcomes == whole.outcomes
    assert together.by_index == whole.by_index
    assert together.writes.derived_students == whole.writes.derived_students
    assert together.writes.derived_changed == whole.writes.derived_changed
    assert {sid: store.plans[sid] for sid in whole.writes.plans} == dict(whole.writes.plans)
    assert set(store.plans) == set(whole.writes.plans)
    assert sorted(e["element_id"] for e in events) == sorted(e["element_id"] for e in whole.writes.events)
    assert {student_id_for(DISTRICT, u) for u in uids} <= set(whole.writes.derived_students)


def test_a_part_result_once_written_holds_no_plans(artifacts):
    r = rules(artifacts)
    prepared = batch.prepare(_mixed_batch(["201", "202"]), sender(), r)
    result = batch_settle.settle(
        prepared, batch.Snapshot(links={}, plans={}, event_keys={}), sender(), r, NOW
    )
    assert result.writes.plans
    written = batch_parts.written(result)
    assert not written.writes.plans
    assert not written.writes.events
    assert written.writes.derived_students == result.writes.derived_students
    assert written.outcomes == result.outcomes


def test_a_part_gets_the_links_of_its_own_identifiers():
    prepared = _prepared([(_id("a"),), (_id("b"),), (_id("a"), _id("c")), (_id("d"),)])
    links = {_id("a"): "s1", _id("c"): "s1", _id("d"): "s4", _id("z"): "s9"}
    first, second, *_ = batch_parts.parts(prepared, links, 1)
    assert batch_parts.links_within(first, links) == {_id("a"): "s1", _id("c"): "s1"}
    assert batch_parts.links_within(second, links) == {}
