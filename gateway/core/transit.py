"""Public transit, as plain values: a trip a family can take between two places, read from a
GTFS feed by storage/service (``gateway.service.transit``) and shown by matching."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class TransitOption:
    route: str  # the route's short name, else its long name ("60", "Blue Line")
    mode: str  # from GTFS route_type: "bus", "tram", "subway", "rail", "ferry", ...
    from_stop: str  # stop names as published
    departs: str  # local "HH:MM" (may be past 24:00 in the feed; shown modulo 24)
    to_stop: str
    arrives: str
    walk_to_stop_km: float
    walk_from_stop_km: float
    feed: str = ""

    def explain(self) -> str:
        ride = f"{self.mode} {self.route} from {self.from_stop} at {self.departs}"
        return f"{ride}, arrives {self.to_stop} {self.arrives}"
