"""Search the directory for a need: services near the place (``directory.services_near``), direct
trips to each of the best of them (``transit.trips_from``: one session and one read of the
origin's stops and the calendars for all of them) and the pure ranking
(``core.matching.rank``) with the crosswalk from the loaded artifacts.

No student is involved: the place, the time and the eligibility facts come from the caller (a
coordinator exploring, or the student-side ``directory match`` which decides first what it may
use). Directory and transit data are public, so nothing here is audited; the place is never
sent anywhere: both lookups read the gateway's own database."""

from __future__ import annotations

import datetime as dt
from typing import Any

from gateway.core.directory import ServiceAtLocation
from gateway.core.matching import NeedQuery, Suggestion, TransitLookup, admissible, rank
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
        return rank(need, candidates, _lookup(trips), crosswalk=crosswalk)


def _lookup(trips: TripSearch) -> TransitLookup:
    def lookup(service: ServiceAtLocation, leave_after: dt.datetime) -> list[TransitOption]:
        return [] if service.point is None else trips.to(service.point, leave_after=leave_after)

    return lookup


def _crosswalk(rt: Runtime) -> dict[str, Any] | None:
    return rt.artifacts.codes.get(TABLE)
