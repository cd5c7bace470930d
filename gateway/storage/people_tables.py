"""People who sign in to the pages, and their sessions (migration 0015). Emails are stored
normalised (lower case) because they are how a person signs in; they never leave this table:
the audit and logs name a person by id and email digest."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.storage.tables import Base, UTCDateTime


class PersonRow(Base):
    __tablename__ = "people"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    email_digest: Mapped[str] = mapped_column(String(80))
    role: Mapped[str] = mapped_column(String(32))
    organization_id: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class PersonStudentRow(Base):
    __tablename__ = "person_students"
    person_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )
    student_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class WebSessionRow(Base):
    """A signed-in browser. The cookie holds a random token; the table holds its digest, so a
    copy of the database does not hand out live sessions."""

    __tablename__ = "web_sessions"
    token_digest: Mapped[str] = mapped_column(String(80), primary_key=True)
    person_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("people.id", ondelete="CASCADE"), index=True
    )
    csrf: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
