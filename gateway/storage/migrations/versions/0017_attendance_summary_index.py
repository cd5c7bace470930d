"""attendance summary index (issue 14: a district-year's later batches)

A batch reads the stored attendance of the students it touches as aggregates (one row per
student, school, school year, source, category and labels, with the events' dates and record
digests joined: ``storage/batch_snapshot.stored_attendance``). With an index on (student, school,
year) alone, every event was fetched from the table, whose rows of a student are spread over the
whole school year's pages: in a district-year load that read was 37% of a batch by mid-year.
``(student_id, school, school_year, source_org, category, regime, sensitivity, event_date,
record_digest)`` answers it from the index alone, each student's entries side by side and already
in group order. The old index is its prefix and goes. Plain B-trees: the same on both databases.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

COLUMNS = [
    "student_id",
    "school",
    "school_year",
    "source_org",
    "category",
    "regime",
    "sensitivity",
    "event_date",
    "record_digest",
]


def upgrade() -> None:
    op.create_index("ix_attendance_events_summary", "attendance_events", COLUMNS)
    op.drop_index("ix_attendance_events_student", table_name="attendance_events")


def downgrade() -> None:
    op.create_index(
        "ix_attendance_events_student", "attendance_events", ["student_id", "school", "school_year"]
    )
    op.drop_index("ix_attendance_events_summary", table_name="attendance_events")
