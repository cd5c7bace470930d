"""Database errors never carry the values of a statement: bound parameters are hidden on every
engine, and PostgreSQL's DETAIL (which quotes keys and whole failing rows) is dropped."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from gateway.service.runtime import Runtime
from gateway.storage import student_store
from gateway.storage.db import make_engine
from gateway.storage.tables import StudentLink
from tests.conftest import START

SYSTEM = "https://grandbend.example.org/ns/studentUniqueId"
SECRET = "SSN-987-65-4320"  # stands for any value a row may hold: it must appear nowhere
STUDENT = "stu-00000000000000000000000001"


def duplicate_link(session: Session) -> None:
    student_store.add_students(session, [STUDENT], START)
    student_store.add_links(session, [(SYSTEM, SECRET, STUDENT)], None, START)
    session.flush()
    student_store.add_links(session, [(SYSTEM, SECRET, STUDENT)], None, START)


def link_to_unknown_student(session: Session) -> None:
    student_store.add_links(session, [(SYSTEM, "604822", f"stu-{SECRET}")], None, START)


def link_without_time(session: Session) -> None:
    session.add(
        StudentLink(system=SYSTEM, value=SECRET, student_id=STUDENT, message_id=None, created_at=None)
    )


def overlong_identifier(session: Session) -> None:
    student_store.add_links(session, [(SYSTEM, SECRET + "9" * 250, STUDENT)], None, START)


def write(rt: Runtime, provoke: Callable[[Session], None]) -> None:
    with rt.sessions.begin() as session:
        provoke(session)
        session.flush()


@pytest.mark.parametrize(
    ("provoke", "error", "sqlite_too"),
    [
        pytest.param(duplicate_link, IntegrityError, True, id="duplicate-key"),
        pytest.param(link_to_unknown_student, IntegrityError, True, id="foreign-key"),
        pytest.param(link_without_time, IntegrityError, True, id="not-null"),
        # SQLite does not enforce VARCHAR lengths.
        pytest.param(overlong_identifier, DataError, False, id="too-long"),
    ],
)
def test_a_database_error_does_not_quote_the_values(
    bare_rt: Runtime,
    caplog: pytest.LogCaptureFixture,
    provoke: Callable[[Session], None],
    error: type[DBAPIError],
    sqlite_too: bool,
) -> None:
    if bare_rt.engine.dialect.name == "sqlite" and not sqlite_too:
        pytest.skip("SQLite accepts the value")
    with pytest.raises(error) as caught:
        write(bare_rt, provoke)
    logging.getLogger("gateway.test").error("failed", exc_info=caught.value)
    shown = [str(caught.value), "".join(traceback.format_exception(caught.value)), caplog.text]
    assert all(SECRET not in text for text in shown), shown[0]
    assert "604822" not in shown[1]
    assert "parameters hidden" in str(caught.value)


def test_every_engine_hides_parameters_whatever_it_is_asked(database_url: str) -> None:
    engine = make_engine(database_url, hide_parameters=False)
    try:
        assert engine.hide_parameters is True
    finally:
        engine.dispose()


def test_the_error_keeps_its_kind_and_names_the_constraint(bare_rt: Runtime) -> None:
    """Code that catches IntegrityError (a replayed jti, say) still can; operators still see where."""
    with pytest.raises(IntegrityError) as caught:
        write(bare_rt, duplicate_link)
    message = str(caught.value).lower()
    assert "unique" in message or "duplicate" in message
    assert "student_links" in message
    original: Any = caught.value.orig
    assert SECRET not in str(original)
