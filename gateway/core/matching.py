"""From a need to services a family can reach: filter, score and explain (pure).

Hard filters, in this order (a service failing one is not suggested):
  status active; places available unless the directory publishes 0; the need's category (a
  directory term from the crosswalk, else a word of the name or description); distance within
  ``km``; age within the published minimum/maximum (whole years: an 18-year-old fits "0-18");
  language (a service that lists languages must list the family's; one that lists none is kept:
  English is assumed, any other language is shown as "languages not published"); service area
  when it is published as postal codes and the family's postal code is known (named areas cannot
  be checked without a gazetteer: they are shown for the coordinator to check); and open within
  the next 7 days when the service publishes hours (unpublished hours are kept, and said so).

Score, 0-100, higher first, ties by id (see ``score``):
  distance 40 x (1 - km/limit) + hours 25 when open at ``when``, else 25 x (1 - hours to wait / 168),
  5 when unpublished + transit 20 when within walking distance or a direct trip arrives while
  open (0 otherwise, and for everyone when transit was not asked for) + language 10 when spoken
  or not asked (English assumed 10, other language unpublished 5) + 5 when matched by a term
  rather than by words.

Transit is looked up (the injected callable: for all of them at once, or one by one) only for
the best ``transit_lookups`` (default ``limit``) candidates by the other criteria, leaving when the
family asks, or 45 minutes before the service opens when it opens later; a trip counts when it
arrives at least 10 minutes before closing."""

from __future__ import annotations

import bisect
import datetime as dt
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.core.directory import ServiceAtLocation, Term
from gateway.core.geo import Point, haversine_km
from gateway.core.need_taxonomy import CategoryTerms, category_terms, match_category, match_parts
from gateway.core.schedule import Window, first_window, hours_known, zone_of
from gateway.core.transit import TransitOption
from gateway.errors import InputInvalid, Issue

TransitLookup = Callable[[ServiceAtLocation, dt.datetime], list[TransitOption]]
# Every candidate's trips in one call: (service, leave after) -> its options, in order.
TransitBatch = Callable[[Sequence[tuple[ServiceAtLocation, dt.datetime]]], list[list[TransitOption]]]

WEEK_HOURS = 7 * 24
HOURS_POINTS = 25.0  # open at ``when``; unpublished hours get 5
LEAD = dt.timedelta(minutes=45)  # leave this long before the service opens
MIN_VISIT = dt.timedelta(minutes=10)  # arrive at least this long before it closes
LANGUAGES = {
    "en": "English", "es": "Spanish", "ht": "Haitian Creole", "pt": "Portuguese", "fr": "French",
    "zh": "Chinese", "vi": "Vietnamese", "ar": "Arabic", "ru": "Russian", "ko": "Korean",
    "km": "Khmer", "so": "Somali", "sw": "Swahili", "tl": "Tagalog", "hi": "Hindi", "pl": "Polish",
    "it": "Italian", "de": "German", "ja": "Japanese", "ne": "Nepali", "my": "Burmese", "uk": "Ukrainian",
    "fa": "Persian", "ps": "Pashto", "hmn": "Hmong", "ase": "American Sign Language",
    "kea": "Cape Verdean Creole",
}  # fmt: skip
# HSDS language.code may be ISO 639-3 ("spa"): the languages above by their three letters.
_THREE = {
    "eng": "en", "spa": "es", "hat": "ht", "por": "pt", "fra": "fr", "fre": "fr", "zho": "zh", "chi": "zh",
    "vie": "vi", "ara": "ar", "rus": "ru", "kor": "ko", "khm": "km", "som": "so", "swa": "sw", "tgl": "tl",
    "hin": "hi", "pol": "pl", "ita": "it", "deu": "de", "ger": "de", "jpn": "ja", "nep": "ne", "mya": "my",
    "ukr": "uk", "fas": "fa", "per": "fa", "pus": "ps",
}  # fmt: skip
_BY_NAME = {name.lower(): code for code, name in LANGUAGES.items()} | _THREE
_POSTAL = re.compile(r"^[A-Z0-9]{3,5}(?:[- ]?[A-Z0-9]{3,4})?$")


@dataclass(frozen=True, kw_only=True)
class NeedQuery:
    category: str  # a need category of the crosswalk (an SDOH category code, e.g. food-insecurity)
    point: Point
    when: dt.datetime  # aware: the family's "from now"
    language: str = ""  # ISO 639-1 code or English name; "" = not asked
    age: float | None = None
    postal_code: str = ""
    km: float = 5.0
    transit: bool = True  # the family travels by transit (else distance only)
    walk_km: float = 0.8
    timezone: str = "UTC"  # the directory's zone, for schedule rows naming none
    limit: int = 20

    def __post_init__(self) -> None:
        issues = [Issue(path=p, message=m) for p, m in _need_problems(self)]
        if issues:
            raise InputInvalid("the search is not valid", issues)


@dataclass(frozen=True, kw_only=True)
class Suggestion:
    service: ServiceAtLocation
    score: float
    distance_km: float
    window: Window | None  # the first opening window at or after ``when`` (None: hours unknown)
    hours_known: bool
    transit: TransitOption | None
    matched_by: str  # "211/AIRS BD-1800.2000", "matched by its description", ...
    explanation: str

    def to_dict(self) -> dict[str, Any]:
        s = self.service
        return {
            "id": s.id, "name": s.name, "organization": s.organization, "address": s.address,
            "score": self.score, "distanceKm": round(self.distance_km, 2),
            "opens": self.window[0].isoformat() if self.window else None,
            "closes": self.window[1].isoformat() if self.window else None,
            "hoursKnown": self.hours_known,
            "transit": _transit_dict(self.transit), "matchedBy": self.matched_by,
            "explanation": self.explanation,
        }  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class _Found:
    """A candidate past the filters, before transit."""

    service: ServiceAtLocation
    distance_km: float
    window: Window | None
    known: bool
    matched_by: str
    by_term: bool


def rank(
    need: NeedQuery,
    candidates: Sequence[ServiceAtLocation],
    transit: TransitLookup | None,
    *,
    crosswalk: Mapping[str, Any] | None,
    transit_lookups: int | None = None,
    transit_batch: TransitBatch | None = None,
) -> list[Suggestion]:
    """The best ``need.limit`` services for the need, each explaining itself. Trips come from
    ``transit_batch`` (every candidate's at once) when given, else from ``transit`` one by one."""
    terms = category_terms(crosswalk, need.category)
    zone = zone_of(need.timezone)
    found = [f for f in (_consider(need, terms, zone, s) for s in candidates) if f is not None]
    ask = transit_batch or (_one_by_one(transit) if transit is not None else None)
    return _finish(need, found, ask, transit_lookups, zone)


def _finish(
    need: NeedQuery,
    found: list[_Found],
    ask: TransitBatch | None,
    transit_lookups: int | None,
    zone: dt.tzinfo,
) -> list[Suggestion]:
    """The suggestions from the candidates past the filters: trips for the best ``budget``."""
    base = sorted(((f, _suggest(need, f, None, looked=False)) for f in found), key=lambda p: _order(p[1]))
    if not (need.transit and ask is not None):
        return [s for _, s in base[: need.limit]]
    budget = need.limit if transit_lookups is None else transit_lookups
    looked = _with_transit(need, [f for f, _ in base[:budget]], ask, zone)
    return sorted(looked + [s for _, s in base[budget:]], key=_order)[: need.limit]


Loader = Callable[[Sequence[str]], Mapping[str, ServiceAtLocation]]


def rank_loading(
    need: NeedQuery,
    light: Sequence[ServiceAtLocation],
    load: Loader,
    *,
    crosswalk: Mapping[str, Any] | None,
    transit_lookups: int | None = None,
    transit_batch: TransitBatch | None = None,
) -> list[Suggestion]:
    """``rank`` of the services ``light`` stands for, each given without its schedules (only the
    fields the filters read need be there), the whole service read by id with ``load`` only for
    those that can still be among the answer. The hours are the one criterion the light service
    lacks, and they weigh at most ``HOURS_POINTS``: the candidates are taken best bound first
    (their score with full hours points), and once ``wanted`` of them have scores above the next
    bound none of the rest can be suggested (a trip only adds to a candidate's score, so the
    ``wanted`` best keep ahead of them). Same answer as ``rank`` over the whole services; on a
    directory most of whose services publish hours, a few of the circle's candidates are read."""
    terms = category_terms(crosswalk, need.category)
    zone = zone_of(need.timezone)
    budget = need.limit if transit_lookups is None else transit_lookups
    wanted = max(need.limit, budget) if need.transit and transit_batch is not None else need.limit
    bounds = sorted(
        (-_bound(need, s, admitted), s.id)
        for s in light
        if (admitted := _admitted(need, terms, s)) is not None
    )
    found: list[_Found] = []
    worst_first: list[float] = []  # the found's scores, negated: [wanted - 1] is the wanted-th best
    start, step = 0, 2 * wanted
    while start < len(bounds):
        if len(worst_first) >= wanted and -worst_first[wanted - 1] > -bounds[start][0]:
            break  # every candidate left scores below the wanted best found
        ids = [i for _, i in bounds[start : start + step]]
        start += step
        full = load(ids)
        for f in (_consider(need, terms, zone, full[i]) for i in ids):
            if f is not None:
                found.append(f)
                bisect.insort(worst_first, -_base_score(need, f))
    return _finish(need, found, transit_batch, transit_lookups, zone)


def _one_by_one(transit: TransitLookup) -> TransitBatch:
    return lambda asks: [transit(service, leave) for service, leave in asks]


def score(need: NeedQuery, found: _Found, transit_ok: bool) -> float:
    hours = 5.0 if not found.known else _hours_points(need.when, found.window)
    return _points(need, found.service, found.distance_km, hours, transit_ok, found.by_term)


def _points(
    need: NeedQuery,
    service: ServiceAtLocation,
    distance_km: float,
    hours: float,
    transit_ok: bool,
    by_term: bool,
) -> float:
    distance = 40.0 * max(0.0, 1.0 - distance_km / need.km)
    travel = 20.0 if need.transit and transit_ok else 0.0
    return round(distance + hours + travel + _language_points(need, service) + 5.0 * by_term, 2)


def _base_score(need: NeedQuery, found: _Found) -> float:
    """The score before trips are looked up (``_suggest`` without an option)."""
    return score(need, found, found.distance_km <= need.walk_km)


def _bound(need: NeedQuery, service: ServiceAtLocation, admitted: tuple[float, tuple[str, bool]]) -> float:
    """The highest score the service can have before trips: ``_base_score`` with full hours points
    (floating-point addition and rounding are monotonic: no score exceeds its bound)."""
    distance, (_, by_term) = admitted
    return _points(need, service, distance, HOURS_POINTS, distance <= need.walk_km, by_term)


def _order(s: Suggestion) -> tuple[float, str]:
    return -s.score, s.service.id


def _hours_points(when: dt.datetime, window: Window | None) -> float:
    if window is None:
        return 0.0
    wait_h = max(0.0, (window[0].timestamp() - when.timestamp()) / 3600)
    return HOURS_POINTS * max(0.0, 1.0 - wait_h / WEEK_HOURS)


def _language_points(need: NeedQuery, service: ServiceAtLocation) -> float:
    wanted = normalise_language(need.language)
    if not wanted or wanted in _codes(service) or (not service.languages and wanted == "en"):
        return 10.0
    return 5.0


@dataclass(frozen=True)
class Admission:
    """The filters of ``rank`` that do not read a service's hours, as tests a caller may apply
    before ranking: ``rank`` of the services they keep equals ``rank`` of them all, and the
    schedules of the others need not be read."""

    need: NeedQuery
    terms: CategoryTerms
    # The terms part of the test per set of terms: the services of a place share a few sets.
    _by_terms: dict[tuple[Term, ...], bool] = field(default_factory=dict, compare=False, repr=False)

    def __call__(self, s: ServiceAtLocation) -> bool:
        return _admitted(self.need, self.terms, s) is not None

    def answers(self, terms: Sequence[Term], name: str, description: str) -> bool:
        """The category test alone, on the parts it reads: False means ``rank`` refuses the
        service (the test most services near a place fail, so it runs first)."""
        key = tuple(terms)
        if key not in self._by_terms:
            self._by_terms[key] = match_parts(self.terms, key, "", "") is not None
        return self._by_terms[key] or match_parts(self.terms, (), name, description) is not None


def admissible(need: NeedQuery, crosswalk: Mapping[str, Any] | None) -> Admission:
    return Admission(need, category_terms(crosswalk, need.category))


def _admitted(
    need: NeedQuery, terms: CategoryTerms, s: ServiceAtLocation
) -> tuple[float, tuple[str, bool]] | None:
    if s.status.strip().lower() != "active" or s.capacity == 0 or s.point is None:
        return None
    distance = haversine_km(need.point, s.point)
    if distance > need.km or not _eligible(need, s):
        return None
    matched = match_category(terms, s)
    return None if matched is None else (distance, matched)


def _consider(need: NeedQuery, terms: CategoryTerms, zone: dt.tzinfo, s: ServiceAtLocation) -> _Found | None:
    admitted = _admitted(need, terms, s)
    if admitted is None:
        return None
    distance, matched = admitted
    known = hours_known(s.schedules)
    window = first_window(s.schedules, need.when, zone) if known else None
    if known and window is None:
        return None  # published hours, and closed all week
    return _Found(service=s, distance_km=distance, window=window, known=known, matched_by=matched[0],
                  by_term=matched[1])  # fmt: skip


def _eligible(need: NeedQuery, s: ServiceAtLocation) -> bool:
    if need.age is not None:
        years = math.floor(need.age)
        if (s.age_min is not None and need.age < s.age_min) or (s.age_max is not None and years > s.age_max):
            return False
    wanted = normalise_language(need.language)
    if wanted and s.languages and wanted not in _codes(s):
        return False
    postal = [a for a in s.service_area if _POSTAL.match(a.strip().upper())]
    return not (need.postal_code and postal and not any(_same_postal(need.postal_code, a) for a in postal))


def _same_postal(a: str, b: str) -> bool:
    """US ZIP+4 and ZIP compare on the 5 digits; other postal codes whole, without spaces or case."""
    x, y = (re.sub(r"[\s-]", "", v).upper() for v in (a, b))
    return x[:5] == y[:5] if x[:5].isdigit() and y[:5].isdigit() else x == y


def _with_transit(
    need: NeedQuery, found: list[_Found], ask: TransitBatch, zone: dt.tzinfo
) -> list[Suggestion]:
    """The candidates with their trips (none asked for those within walking distance)."""
    riding = [(f, _leave(need, f, zone)) for f in found if f.distance_km > need.walk_km]
    answers = ask([(f.service, leave) for f, leave in riding])
    chosen = {
        id(f): _choose(options, leave, f.window) for (f, leave), options in zip(riding, answers, strict=True)
    }
    return [_suggest(need, f, chosen.get(id(f)), looked=True) for f in found]


def _leave(need: NeedQuery, f: _Found, zone: dt.tzinfo) -> dt.datetime:
    """When the family asks, or ``LEAD`` before the service opens when it opens later."""
    local = f.window[0].tzinfo if f.window is not None else zone
    leave = need.when
    if f.window is not None and f.window[0].timestamp() > need.when.timestamp():
        leave = max(need.when, f.window[0] - LEAD)
    return leave.astimezone(local)


def _choose(
    options: Sequence[TransitOption], leave: dt.datetime, window: Window | None
) -> TransitOption | None:
    """The earliest arrival that still leaves time to be seen (options come sorted by arrival)."""
    for option in options:
        arrives = option.arrives_at or _clock_instant(leave, option.arrives)
        if arrives is not None and (window is None or arrives <= window[1] - MIN_VISIT):
            return option
    return None


def _clock_instant(service_day: dt.datetime, clock: str) -> dt.datetime | None:
    """GTFS "HH:MM" on the service day of ``service_day`` (hours past 24 run into the next day),
    for an option that does not carry its instant (``arrives_at``)."""
    match = re.match(r"^\s*(\d{1,3}):(\d{2})", clock)
    if match is None:
        return None
    midnight = service_day.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight + dt.timedelta(hours=int(match.group(1)), minutes=int(match.group(2)))


def _suggest(need: NeedQuery, f: _Found, option: TransitOption | None, *, looked: bool) -> Suggestion:
    transit_ok = f.distance_km <= need.walk_km or option is not None
    return Suggestion(
        service=f.service,
        score=score(need, f, transit_ok),
        distance_km=f.distance_km,
        window=f.window,
        hours_known=f.known,
        transit=option,
        matched_by=f.matched_by,
        explanation=explain(need, f, option, looked=looked),
    )


def explain(need: NeedQuery, f: _Found, option: TransitOption | None, *, looked: bool) -> str:
    """ "1.2 km; bus 60 from Broad St at 15:40, arrives 15:58; open until 18:00; Spanish spoken;
    ages 0–18", then capacity, areas to check and a word-match, each only when it applies."""
    s = f.service
    parts = [f"{f.distance_km:.1f} km", _travel_text(need, f, option, looked), _hours_text(need.when, f)]
    parts += [_language_text(need, s), _ages_text(s)]
    parts.append(f"{s.capacity} places available" if s.capacity else "")
    parts.append(_area_text(need, s))
    parts.append(f.matched_by if not f.by_term else "")
    return "; ".join(p for p in parts if p)


def _travel_text(need: NeedQuery, f: _Found, option: TransitOption | None, looked: bool) -> str:
    if not need.transit:
        return ""
    if f.distance_km <= need.walk_km:
        return "walking distance"
    if option is not None:
        ride = f"{option.mode} {option.route} from {option.from_stop} at {_clock(option.departs)}"
        ride += f" (every {option.every_minutes} min)" if option.every_minutes else ""
        return f"{ride}, arrives {_clock(option.arrives)}"
    return "no direct trip found" if looked else ""


def _clock(text: str) -> str:
    match = re.match(r"^\s*(\d{1,3}):(\d{2})", text)
    return f"{int(match.group(1)) % 24:02d}:{match.group(2)}" if match else text


def _hours_text(when: dt.datetime, f: _Found) -> str:
    if not f.known or f.window is None:
        return "hours not published"
    opens, closes = f.window
    local_when = when.astimezone(opens.tzinfo)
    until = closes.strftime("%H:%M") if closes - opens < dt.timedelta(days=1) else closes.strftime("%a %H:%M")
    if opens.timestamp() <= when.timestamp():
        return f"open until {until}"
    day = "" if opens.date() == local_when.date() else opens.strftime("%a ")
    return f"opens {day}{opens:%H:%M}, until {until}"


def _language_text(need: NeedQuery, s: ServiceAtLocation) -> str:
    wanted = normalise_language(need.language)
    if not wanted:
        return ""
    name = LANGUAGES.get(wanted, wanted)
    if wanted in _codes(s):
        return f"{name} spoken"
    return "English assumed" if wanted == "en" else "languages not published"


def _ages_text(s: ServiceAtLocation) -> str:
    low, high = (None if v is None else f"{v:g}" for v in (s.age_min, s.age_max))
    if low is not None and high is not None:
        return f"ages {low}–{high}"
    if low is not None:
        return f"ages {low}+"
    return f"ages up to {high}" if high is not None else ""


def _area_text(need: NeedQuery, s: ServiceAtLocation) -> str:
    named = [a for a in s.service_area if not _POSTAL.match(a.strip().upper())]
    return f"serves {', '.join(named)} (check the address)" if need.postal_code and named else ""


def normalise_language(text: str) -> str:
    """ "es", "es-MX", "Spanish", "spa"-style input to the primary ISO 639-1 code when known."""
    value = text.strip().lower()
    if not value:
        return ""
    primary = re.split(r"[-_]", value)[0]
    return _BY_NAME.get(value) or _BY_NAME.get(primary, primary)


def _codes(s: ServiceAtLocation) -> set[str]:
    return {normalise_language(code) for code in s.languages}


def _transit_dict(option: TransitOption | None) -> dict[str, Any] | None:
    if option is None:
        return None
    return {"route": option.route, "mode": option.mode, "fromStop": option.from_stop,
            "departs": _clock(option.departs), "toStop": option.to_stop, "arrives": _clock(option.arrives),
            "walkToStopKm": option.walk_to_stop_km, "walkFromStopKm": option.walk_from_stop_km}  # fmt: skip


def _need_problems(need: NeedQuery) -> list[tuple[str, str]]:
    problems = []
    if need.when.tzinfo is None:
        problems.append(("when", "give a time zone (an offset or the directory's zone)"))
    if not need.km > 0:
        problems.append(("km", "must be more than 0"))
    if need.walk_km < 0:
        problems.append(("walkKm", "must be 0 or more"))
    if need.age is not None and not 0 <= need.age < 130:
        problems.append(("age", "must be between 0 and 130 years"))
    if need.limit < 1:
        problems.append(("limit", "must be at least 1"))
    try:
        zone_of(need.timezone)
    except ValueError as exc:
        problems.append(("timezone", str(exc)))
    return problems
