"""What a directory holds, as plain values: a service offered at a place, with its categories,
eligibility, languages, hours and capacity. Read from HSDS (any version) by the formats layer,
stored by storage, ranked by ``gateway.core.matching``. Nothing here says how it was read."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.core.geo import Point


@dataclass(frozen=True, kw_only=True, slots=True)
class Term:
    """A category code in a taxonomy: ("airs", "BD-1800.2000"), ("open-eligibility", "food"),
    or ("directory", "<the directory's own term>")."""

    taxonomy: str
    code: str
    label: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class ScheduleRule:
    """One HSDS schedule row (3.x fields; 1.x/2.x regular_schedule and holiday_schedule rows are
    read into the same shape). Times are local wall-clock "HH:MM" in ``timezone``."""

    freq: str = ""  # "WEEKLY" | "MONTHLY" | "YEARLY" | "" (a holiday/closure row or an unstructured note)
    interval: int = 1
    byday: str = ""  # RFC 5545 BYDAY: "MO,TU", "1SA", "-1FR"
    bymonthday: str = ""
    opens_at: str = ""
    closes_at: str = ""  # earlier than opens_at: open past midnight
    valid_from: str = ""  # ISO date
    valid_to: str = ""
    dtstart: str = ""
    until: str = ""
    count: int | None = None  # RFC 5545 COUNT: the number of occurrences from dtstart (else valid_from)
    byweekno: str = ""  # ISO 8601 week numbers, "-1" the year's last week
    byyearday: str = ""  # days of the year, "-1" its last day
    timezone: str = ""  # IANA name; "" means the directory's default
    closed: bool = False  # a holiday or exception: closed for the dates it covers
    description: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class ServiceAtLocation:
    id: str  # the gateway's id: source + HSDS service_at_location id (or service + location)
    source: str  # the directory it came from
    service_id: str
    location_id: str
    name: str
    organization: str
    description: str = ""
    terms: tuple[Term, ...] = ()
    languages: tuple[str, ...] = ()  # BCP 47 / ISO 639-1 codes, lower case
    age_min: float | None = None
    age_max: float | None = None
    service_area: tuple[str, ...] = ()  # postal codes or area names, as published
    point: Point | None = None
    address: str = ""
    schedules: tuple[ScheduleRule, ...] = ()
    capacity: int | None = None  # places available, where published
    status: str = "active"
