"""The family's place, age and language for a directory match, read from the part of a plan a
reader may see (pure).

The place is the first usable ``student.locations`` element, home addresses first: a pair of
coordinates (not the 0,0 placeholder) as the records carry it, else the postal code's ZIP Code
Tabulation Area internal point from the shipped Census table. A half pair of coordinates is not
used. Nothing here decides who may see what: it is handed the plan as the policy shaped it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.core.geo import Point
from gateway.core.policy_model import Agreement, PolicySet, ScheduleEntry

LOCATION = "location"  # the data category of student.locations elements
SLOT = "student.locations"
COORDINATES = "coordinates"
POSTAL_CODE = "postal-code"
EXPLAINED = {COORDINATES: "from the address coordinates", POSTAL_CODE: "from the postal code"}
_ZIP = re.compile(r"^(\d{5})(?:[- ]?\d{4})?$")
_HOME = frozenset({"home", "physical", "primary"})


@dataclass(frozen=True, kw_only=True)
class FamilyPlace:
    point: Point
    basis: str  # COORDINATES | POSTAL_CODE
    element_id: str
    source: str  # the organization whose record carried it
    postal_code: str = ""

    @property
    def explanation(self) -> str:
        return EXPLAINED[self.basis]


def zcta_of(postal_code: str) -> str:
    """The 5-digit ZCTA key of a US ZIP (``78834``, ``78834-1234``, ``788341234``), else ""."""
    found = _ZIP.match(postal_code.strip())
    return found.group(1) if found else ""


def family_place(
    locations: Iterable[Mapping[str, Any]], centroids: Mapping[str, Point]
) -> FamilyPlace | None:
    """The place to search from: coordinates first, then a postal code the table knows."""
    ordered = sorted(locations, key=lambda e: (str(e.get("use", "")).lower() not in _HOME, str(e["id"])))
    for element in ordered:
        point = _coordinates(element)
        if point is not None:
            return _place(element, point, COORDINATES)
    for element in ordered:
        key = zcta_of(str(element.get("postalCode", "")))
        if key in centroids:
            return _place(element, centroids[key], POSTAL_CODE)
    return None


def _coordinates(element: Mapping[str, Any]) -> Point | None:
    lat, lon = element.get("latitude"), element.get("longitude")
    if not isinstance(lat, int | float) or not isinstance(lon, int | float) or (lat == 0 and lon == 0):
        return None  # a half pair, or the "null island" placeholder some systems store
    try:
        return Point(lat=float(lat), lon=float(lon))
    except ValueError:
        return None


def _place(element: Mapping[str, Any], point: Point, basis: str) -> FamilyPlace:
    return FamilyPlace(
        point=point,
        basis=basis,
        element_id=str(element["id"]),
        source=str(element["provenance"]["sourceOrganization"]),
        postal_code=zcta_of(str(element.get("postalCode", ""))),
    )


def age_on(birth: dt.date | None, day: dt.date) -> float | None:
    """Whole years of age on ``day`` (a birthday on 29 February counts from 1 March)."""
    if birth is None or birth > day:
        return None
    years = day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))
    return float(years)


def family_language(languages: Sequence[Mapping[str, Any]], iso639: Mapping[str, Any]) -> str:
    """The language to look for, as an ISO 639-1 code when one is known: the home or primary
    language first; a BCP 47 tag gives its primary subtag, an ISO 639-2/3 code its 639-1 twin."""
    ordered = sorted(languages, key=lambda e: not _is_home_language(str(e.get("use", ""))))
    for element in ordered:
        code = str(element.get("code", {}).get("code", "")).strip().lower()
        primary = code.split("-", 1)[0]
        if primary:
            return str(iso639.get(primary, primary))
    return ""


def _is_home_language(use: str) -> bool:
    return any(word in use.lower() for word in ("home", "primary", "native", "dominant"))


def need_category(code: Mapping[str, Any], need_codes: Mapping[str, Any]) -> str:
    """The SDOH category a need's coding stands for, by the same crosswalk that made it
    (``sdoh-category-need``: category -> coding, read backwards); "" when it is none of them."""
    for category, coding in need_codes.items():
        if isinstance(coding, Mapping) and (coding.get("system"), coding.get("code")) == (
            code.get("system"),
            code.get("code"),
        ):
            return str(category)
    return ""


def location_allowed(policy: PolicySet, reader_org: str, role: str, purpose: str, today: dt.date) -> bool:
    """Whether any agreement in force lets this reader use a family location for this purpose:
    one that schedules location from another party to the reader's organization, for the purpose
    and the role, or one under which the reader's organization sends location itself (its own
    records are its own). A fact about the policy, the same for every student."""
    for agreement in policy.agreements:
        if not agreement.in_force(today):
            continue
        own = agreement.entry_for(reader_org)
        if own is None:
            continue
        if LOCATION in own.sends:
            return True
        if _lets_receive(agreement, own, reader_org, role, purpose):
            return True
    return False


def _lets_receive(agreement: Agreement, own: ScheduleEntry, reader_org: str, role: str, purpose: str) -> bool:
    if LOCATION not in own.receives or purpose not in agreement.purposes:
        return False
    if role not in agreement.recipient_roles:
        return False
    fields = agreement.field_set(purpose, role)  # minimum necessary: the slot must be in the set
    if fields is not None and not {"student", SLOT} & set(fields):
        return False
    return any(LOCATION in entry.sends for entry in agreement.schedule if entry.party != reader_org)
