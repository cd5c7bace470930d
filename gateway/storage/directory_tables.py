"""Directory tables (issue 16): services at locations read from HSDS directories, and what the
gateway remembers per directory (its refresh watermark). Terms, schedules, languages and service
areas ride as JSON on the row: a match reads them with the row, and the only lookup that must be
indexed is the grid cell with the point (``gateway.core.geo.cell_key``, then the box)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.storage.tables import Base, Document, Timestamp


class DirectoryServiceRow(Base):
    __tablename__ = "directory_services"
    id: Mapped[str] = mapped_column(String(300), primary_key=True)  # source + ":" + HSDS id
    source: Mapped[str] = mapped_column(String(64))
    service_id: Mapped[str] = mapped_column(String(120))
    location_id: Mapped[str] = mapped_column(String(120))
    name: Mapped[str] = mapped_column(Text)
    organization: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    address: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(40))
    age_min: Mapped[float | None] = mapped_column(Float, nullable=True)
    age_max: Mapped[float | None] = mapped_column(Float, nullable=True)
    capacity: Mapped[int | None] = mapped_column(Integer, nullable=True)
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    cell: Mapped[str | None] = mapped_column(String(24), nullable=True)
    languages: Mapped[list[str]] = mapped_column(Document)
    service_area: Mapped[list[str]] = mapped_column(Document)
    terms: Mapped[list[dict[str, Any]]] = mapped_column(Document)
    schedules: Mapped[list[dict[str, Any]]] = mapped_column(Document)
    modified: Mapped[str] = mapped_column(String(40))  # HSDS last_modified as published
    digest: Mapped[str] = mapped_column(String(80))
    imported_at: Mapped[dt.datetime] = mapped_column(Timestamp)


class DirectorySourceRow(Base):
    __tablename__ = "directory_sources"
    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    origin: Mapped[str] = mapped_column(Text)  # the URL, or the file or folder name
    watermark: Mapped[str] = mapped_column(String(40))  # newest last_modified seen ("" = none)
    digest: Mapped[str] = mapped_column(String(80))  # of the last import's records
    imported_at: Mapped[dt.datetime] = mapped_column(Timestamp)


# The cell and box test of a search near a place from the index alone (migration 0016).
Index(
    "ix_directory_services_cell_point",
    DirectoryServiceRow.cell,
    DirectoryServiceRow.lat,
    DirectoryServiceRow.lon,
    DirectoryServiceRow.id,
)
Index("ix_directory_services_source", DirectoryServiceRow.source, DirectoryServiceRow.service_id)
