"""Search the directory for a need: services near the place (``directory.services_near``), direct
trips to the best of them (``transit.trips_from``: one session, one read of the origin's stops
and one trip query per feed for all of them) and the pure ranking
(``core.matching.rank``) with the crosswalk from the loaded artifacts.

No student is involved: the place, the time and the eligibility facts come from the caller (a
coordinator exploring, or the student-side ``directory match`` which decides first what it may
use). Directory and transit data are public, so nothing here is audited; the place is never
sent anywhere: both lookups read the gateway's own database."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from gateway.core.directory import ServiceAtLocation
from gateway.core.matching import NeedQuery, Suggestion, TransitBatch, admissible, rank
from gateway.core.need_taxonomy import TABLE
from gateway.core.transit import TransitOption
from gateway.service.directory import services_near
from gateway.service.runtime import Runtime
from gateway.service.transit import TripSearch, trips_from


def search(rt: Runtime, need: NeedQuery) -> list[Suggestion]:
    """The best services for ``need``, each with its distance, hours and trip explained."""
    crosswalk = _crosswalk(rt)
    # Services the ranking would refuse anyway (category, eligibility) are dropped while reading.
    admission = admissible(need, crosswalk)
    candidates = services_near(rt, need.point, need.km, keep=admission, first=admission.answers)
    if not need.transit:
        return rank(need, candidates, None, crosswalk=crosswalk)
    with trips_from(rt, need.point, walk_km=need.walk_km) as trips:  # one session for every trip
        return rank(need, candidates, None, crosswalk=crosswalk, transit_batch=_lookup(trips))


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
