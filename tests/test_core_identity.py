"""Deterministic identity: a record links to the one student its identifiers name, registers a
new student only when allowed, and is otherwise held with a reason that names no values."""

from __future__ import annotations

import pytest

from gateway.core.identity import Identifier, resolve_student
from gateway.core.ids import student_id_for

SIS = "https://grandbend.example.org/ns/studentUniqueId"
EHR = "https://riverside-health.example.org/fhir/Patient"
STATE = "https://tea.example.gov/ns/tsds"

ANA = student_id_for(SIS, "604822")
BEN = student_id_for(SIS, "604823")

LINKS: dict[Identifier, str] = {
    (SIS, "604822"): ANA,
    (EHR, "pat-53234"): ANA,
    (SIS, "604823"): BEN,
}


@pytest.mark.parametrize(
    ("identifiers", "may_create", "student", "new_links", "created"),
    [
        # one known student
        pytest.param(((SIS, "604822"),), False, ANA, (), False, id="known id links to that student"),
        pytest.param(
            ((SIS, "604822"),), True, ANA, (), False, id="known id never creates, even when allowed"
        ),
        pytest.param(
            ((SIS, "604822"), (EHR, "pat-53234")),
            False,
            ANA,
            (),
            False,
            id="two known ids of the same student",
        ),
        pytest.param(
            ((EHR, "pat-53234"), (STATE, "TX-1"), (SIS, "604822")),
            False,
            ANA,
            ((STATE, "TX-1"),),
            False,
            id="unlinked extra id becomes a new link",
        ),
        pytest.param(
            ((STATE, "TX-1"), (EHR, "pat-53234"), (STATE, "TX-2")),
            False,
            ANA,
            ((STATE, "TX-1"), (STATE, "TX-2")),
            False,
            id="every unlinked id becomes a link, in order",
        ),
        # none known
        pytest.param(
            ((SIS, "700001"), (STATE, "TX-9")),
            True,
            student_id_for(SIS, "700001"),
            ((SIS, "700001"), (STATE, "TX-9")),
            True,
            id="none known and may create: derived from the first identifier",
        ),
        pytest.param(
            ((STATE, "TX-9"), (SIS, "700001")),
            True,
            student_id_for(STATE, "TX-9"),
            ((STATE, "TX-9"), (SIS, "700001")),
            True,
            id="creation follows identifier order",
        ),
        pytest.param(((SIS, "700001"),), False, None, (), False, id="none known and may not create: held"),
        pytest.param((), True, None, (), False, id="no identifiers at all: held even if creation is allowed"),
        # conflicts
        pytest.param(
            ((SIS, "604822"), (SIS, "604823")), True, None, (), False, id="ids of two students: held"
        ),
        pytest.param(
            ((EHR, "pat-53234"), (SIS, "604823"), (STATE, "TX-1")),
            False,
            None,
            (),
            False,
            id="conflict wins over new links",
        ),
    ],
)
def test_resolve_student(
    identifiers: tuple[Identifier, ...],
    may_create: bool,
    student: str | None,
    new_links: tuple[Identifier, ...],
    created: bool,
) -> None:
    outcome = resolve_student(identifiers, LINKS, may_create=may_create)
    assert (outcome.student_id, outcome.new_links, outcome.created) == (student, new_links, created)
    assert bool(outcome.reason) is (student is None), "held outcomes and only they give a reason"


@pytest.mark.parametrize(
    ("identifiers", "says"),
    [
        pytest.param(((SIS, "700001"), (STATE, "TX-9")), "no student is linked", id="unknown"),
        pytest.param(((SIS, "604822"), (SIS, "604823")), "2 different students", id="conflict"),
        pytest.param(
            ((EHR, "pat-53234"), (SIS, "604823")), "2 different students", id="conflict across systems"
        ),
    ],
)
def test_held_reason_names_systems_never_values(identifiers: tuple[Identifier, ...], says: str) -> None:
    outcome = resolve_student(identifiers, LINKS, may_create=False)
    assert says in outcome.reason
    for system, value in identifiers:
        assert system in outcome.reason
        assert value not in outcome.reason
    assert ANA not in outcome.reason
    assert BEN not in outcome.reason


def test_created_student_id_is_stable() -> None:
    first = resolve_student(((SIS, "700001"),), {}, may_create=True)
    again = resolve_student(((SIS, "700001"),), {}, may_create=True)
    assert first.student_id == again.student_id
    assert first.student_id is not None
    assert first.student_id.startswith("stu-")
