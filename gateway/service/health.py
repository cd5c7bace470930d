"""Is the gateway able to work: can it reach its database and does it hold its keys?"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from gateway.service.runtime import Runtime


@dataclass(frozen=True, kw_only=True)
class Health:
    database: bool
    keys: bool

    @property
    def ok(self) -> bool:
        return self.database and self.keys


def check(rt: Runtime) -> Health:
    try:
        with rt.sessions() as session:
            session.execute(text("SELECT 1"))
        database = True
    except SQLAlchemyError:
        database = False
    return Health(database=database, keys=rt.keys.audit is not None and rt.keys.token is not None)
