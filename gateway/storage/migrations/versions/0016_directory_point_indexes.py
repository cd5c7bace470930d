"""directory and stop point indexes (issue 16 match latency)

A search near a place reads the grid cells its circle touches and keeps the rows inside the
circle's box. With an index on the cell alone every row of those cells was fetched to test its
latitude and longitude (about 2,450 rows of a 50,000-service directory for a 5 km search, for
1,100 in the box). ``(cell, lat, lon, id)`` answers the cell and box test from the index alone on
SQLite and PostgreSQL, so only the rows in the box are read, and the first, narrow read of a
search (id and place) touches no table page. Stops get ``(cell, lat, lon)`` for the same reason
(a walk's box holds a few of a cell's hundreds of stops). The cell-only indexes are the new
ones' prefixes and go. Plain B-trees: the same on both databases, filled by the CREATE INDEX.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_directory_services_cell_point", "directory_services", ["cell", "lat", "lon", "id"]
    )
    op.drop_index("ix_directory_services_cell", table_name="directory_services")
    op.create_index("ix_transit_stops_cell_point", "transit_stops", ["cell", "lat", "lon"])
    op.drop_index("ix_transit_stops_cell", table_name="transit_stops")


def downgrade() -> None:
    op.create_index("ix_transit_stops_cell", "transit_stops", ["cell"])
    op.drop_index("ix_transit_stops_cell_point", table_name="transit_stops")
    op.create_index("ix_directory_services_cell", "directory_services", ["cell"])
    op.drop_index("ix_directory_services_cell_point", table_name="directory_services")
