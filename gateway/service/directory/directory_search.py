"""Search the directory for a need: the services near the place, direct trips to the best of
them (``transit.TripSearch``: one read of the origin's stops and one trip query per feed for all
of them) and the pure ranking (``core.matching.rank_loading``) with the crosswalk from the loaded
artifacts, all in one session.

The circle is read narrow: the ``(cell, lat, lon, id)`` index answers the cells and the box, and
only the columns the filters read come back (no schedules); services the category test refuses
are never made values. The ranking reads the whole rows (schedules) only of the candidates that
can still be suggested, by id: the same answer as ``rank`` over every service near the place.

No student is involved: the place, the time and the eligibility facts come from the caller (a
coordinator exploring, or the student-side ``directory match`` which decides first what it may
use). Directory and transit data are public, so nothing here is audited; the place is never
sent anywhere: both lookups read the gateway's own database."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from gateway.core.directory import ServiceAtLocation, Term
from gateway.core.geo import box_around, cells_around, distance_from
from gateway.core.matching import Admission, NeedQuery, Suggestion, TransitBatch, admissible, rank_loading
from gateway.core.need_taxonomy import TABLE
from gateway.core.transit import TransitOption
from gateway.service.directory.transit import TripSearch
from gateway.service.runtime import Runtime
from gateway.storage import directory_store as store
from gateway.storage.db import Session


def search(rt: Runtime, need: NeedQuery) -> list[Suggestion]:
    """The best services for ``need``, each with its distance, hours and trip explained."""
    crosswalk = _crosswalk(rt)
    with rt.sessions() as session:  # one read of the circle; whole rows only for the few ranked
        light = _near(session, need, admissible(need, crosswalk))

        def load(ids: Sequence[str]) -> dict[str, ServiceAtLocation]:
            return {i: store.text_service_of(row) for i, row in store.by_ids_text(session, ids).items()}

        if not need.transit:
            return rank_loading(need, light, load, crosswalk=crosswalk)
        # The same session for every trip (on SQLite a second one would wait for this one's lock).
        trips = TripSearch(session, need.point, need.walk_km)
        return rank_loading(need, light, load, crosswalk=crosswalk, transit_batch=_lookup(trips))


def _near(session: Session, need: NeedQuery, admission: Admission) -> list[ServiceAtLocation]:
    """The services within ``need.km`` that the category test accepts, without their schedules:
    the index answers the cells and the box, the circle and the category are tested on the row
    (services the ranking would refuse are never made values)."""
    rows = store.in_box_light(session, cells_around(need.point, need.km), box_around(need.point, need.km))
    decoded: dict[str, tuple[Term, ...]] = {}
    found, km = [], distance_from(need.point)
    for row in rows:
        if km(row.lat, row.lon) <= need.km:
            value = store.light_service_of(row, admission.answers, decoded)
            if value is not None:
                found.append(value)
    return found


def _lookup(trips: TripSearch) -> TransitBatch:
    """Every candidate's trips in one query per feed (services without a place have none)."""

    def lookup(asks: Sequence[tuple[ServiceAtLocation, dt.datetime]]) -> list[list[TransitOption]]:
        placed = [(i, s.point, leave) for i, (s, leave) in enumerate(asks) if s.point is not None]
        answers = trips.many([(point, leave) for _, point, leave in placed])
        found: list[list[TransitOption]] = [[] for _ in asks]
        for (i, _, _), options in zip(placed, answers, strict=True):
            found[i] = options
        return found

    return lookup


def _crosswalk(rt: Runtime) -> dict[str, Any] | None:
    return rt.artifacts.codes.get(TABLE)
