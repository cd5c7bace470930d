"""What every HSDS reader shares: located problems, the record it yields, and the lenient field
readers real directories need (numbers written as text, "18.0" ages, "9:00am" times, weekday
names or numbers, language names instead of codes, coordinates out of range).

A problem names the file (or JSON document), the row (or JSON path), what is wrong and what to
do; it never quotes the value (directory data is public, but the rule is one for the gateway)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from gateway.core.directory import ScheduleRule, ServiceAtLocation, Term
from gateway.core.geo import Point

REJECTED, WARNING = "rejected", "warning"
GONE_STATUSES = frozenset({"inactive", "defunct"})  # HSDS 3.x: the service is withdrawn


@dataclass(frozen=True, kw_only=True, slots=True)
class Problem:
    where: str  # "services.csv row 7", "service_list.json $.contents[3].minimum_age"
    message: str
    severity: str = REJECTED  # rejected: the record did not land; warning: a field was dropped

    def to_dict(self) -> dict[str, str]:
        return {"where": self.where, "message": self.message, "severity": self.severity}


@dataclass(frozen=True, kw_only=True, slots=True)
class DirectoryRecord:
    sal: ServiceAtLocation
    modified: str = ""  # the service's last_modified, as published
    where: str = ""


@dataclass(kw_only=True)
class ReadResult:
    version: str  # "3.x", "2.x", "1.x"
    records: list[DirectoryRecord] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    # Services withdrawn (status inactive/defunct): an import removes what it holds of them.
    gone: set[str] = field(default_factory=set)
    # Services with a rejected record: a full import keeps what it held of them.
    held: set[str] = field(default_factory=set)


def text(value: object) -> str:
    """A field as trimmed text (numbers as published, None as "")."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def number(value: object) -> float | None:
    """A number written as a number or as text ("18", "18.0", " 41.82 "); None when absent.
    Raises ValueError for text that is not a finite number."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        result = float(value)
    else:
        raw = str(value).strip()
        if not raw:
            return None
        result = float(raw)
    if not math.isfinite(result):
        raise ValueError("not a finite number")
    return result


def point(lat: object, lon: object) -> Point:
    """Raises ValueError when either is missing, not a number or out of range."""
    la, lo = number(lat), number(lon)
    if la is None or lo is None:
        raise ValueError("latitude and longitude are both needed")
    return Point(lat=la, lon=lo)


_TIME = re.compile(r"^(\d{1,2})(?::?(\d{2}))?(?::(\d{2})(?:\.\d+)?)?\s*([ap])?\.?\s*m?\.?$", re.IGNORECASE)
_OFFSET = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")


def clock_time(value: object) -> tuple[str, str]:
    """An opening time as ("HH:MM", offset): "10:00:00" -> ("10:00", ""), "09:00-05:00" ->
    ("09:00", "-05:00"), "9:00am" -> ("09:00", ""), "5 PM" -> ("17:00", ""). Raises ValueError."""
    raw = text(value)
    if not raw:
        return "", ""
    offset = ""
    found = _OFFSET.search(raw)
    if found and ":" in raw[: found.start()]:
        offset, raw = found.group(1), raw[: found.start()]
    match = _TIME.match(raw.strip())
    if not match:
        raise ValueError("not a time of day")
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    meridian = (match.group(4) or "").lower()
    if meridian:
        hour = hour % 12 + (12 if meridian == "p" else 0)
    if hour > 24 or minute > 59:
        raise ValueError("not a time of day")
    return f"{hour:02d}:{minute:02d}", offset


def zone_of(timezone: object, offset: str) -> str:
    """An IANA zone for a schedule: an IANA name as given; a numeric UTC offset (HSDS 3.x
    ``timezone``) or a time's offset as the fixed zone ``Etc/GMT∓N`` (DST-unsafe, but what the
    publisher said); "" leaves it to the directory's default."""
    raw = text(timezone)
    if raw and not _is_number(raw):
        return raw
    hours = float(raw) if raw else _offset_hours(offset)
    if hours is None:
        return ""
    if hours == 0:
        return "UTC"
    if not hours.is_integer():
        return ""  # no fixed Etc zone for half hours; the directory default applies
    return f"Etc/GMT{-int(hours):+d}"  # POSIX sign: Etc/GMT+5 is five hours behind UTC


def _offset_hours(offset: str) -> float | None:
    if not offset:
        return None
    if offset == "Z":
        return 0.0
    sign = -1 if offset.startswith("-") else 1
    digits = offset[1:].replace(":", "")
    return sign * (int(digits[:2]) + int(digits[2:]) / 60)


def _is_number(raw: str) -> bool:
    try:
        float(raw)
    except ValueError:
        return False
    return True


WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_DAY_NAMES = {
    "monday": "MO", "mon": "MO", "tuesday": "TU", "tue": "TU", "tues": "TU",
    "wednesday": "WE", "wed": "WE", "thursday": "TH", "thu": "TH", "thur": "TH", "thurs": "TH",
    "friday": "FR", "fri": "FR", "saturday": "SA", "sat": "SA", "sunday": "SU", "sun": "SU",
}  # fmt: skip


def weekday(value: object) -> str:
    """A 1.x ``weekday`` as an RFC 5545 day: ISO numbers (1 = Monday ... 7 = Sunday; 0 is also
    read as Sunday, as some exporters count from it), names, abbreviations or codes."""
    raw = text(value).lower().rstrip(".")
    if raw.isdigit() and 0 <= int(raw) <= 7:
        return WEEKDAYS[(int(raw) - 1) % 7]
    if raw.upper() in WEEKDAYS:
        return raw.upper()
    if raw in _DAY_NAMES:
        return _DAY_NAMES[raw]
    raise ValueError("not a weekday (1-7 from Monday, or a name)")


# Names some 1.x/2.x directories write instead of ISO 639-1 codes: the languages US 211s list most.
_LANGUAGE_CODES = {
    "english": "en", "spanish": "es", "español": "es", "french": "fr", "haitian creole": "ht",
    "creole": "ht", "kreyol": "ht", "portuguese": "pt", "chinese": "zh", "mandarin": "zh",
    "cantonese": "yue", "vietnamese": "vi", "korean": "ko", "arabic": "ar", "russian": "ru",
    "tagalog": "tl", "somali": "so", "hmong": "hmn", "cape verdean creole": "kea", "khmer": "km",
    "polish": "pl", "urdu": "ur", "italian": "it", "german": "de", "american sign language": "ase",
    "asl": "ase", "nepali": "ne", "swahili": "sw", "farsi": "fa", "persian": "fa", "hindi": "hi",
}  # fmt: skip


def language(code: object, name: object = "") -> str:
    """A language as a lower-case code: the code when given, else the name looked up; a name
    we do not know stays as its lower-case name (still matchable by name)."""
    raw = text(code).lower().replace("_", "-")
    if raw:
        return raw
    named = text(name).lower()
    return _LANGUAGE_CODES.get(named, named)


def taxonomy_name(value: object) -> str:
    """The gateway's name for a taxonomy: "airs" for AIRS / 211 LA codes, "open-eligibility",
    otherwise "directory" (the directory's own terms)."""
    raw = re.sub(r"[\s_-]+", " ", text(value).lower())
    if "airs" in raw or "211" in raw:
        return "airs"
    if "open eligibility" in raw or "openeligibility" in raw:
        return "open-eligibility"
    return "directory"


def term(taxonomy: object, code: object, name: object) -> Term | None:
    label = text(name)
    found = text(code) or label
    return Term(taxonomy=taxonomy_name(taxonomy), code=found, label=label) if found else None


_AGES = re.compile(r"\bages?\s*(\d{1,3})\s*(?:-|–|to|through)\s*(\d{1,3})\b", re.IGNORECASE)


def ages_in(eligibility: str) -> tuple[float | None, float | None]:
    """Ages written in 1.x free-text eligibility ("Ages 5-18", "age 0 to 18"); 3.x has fields."""
    found = _AGES.search(eligibility)
    return (float(found.group(1)), float(found.group(2))) if found else (None, None)


def schedule_sort_key(rule: ScheduleRule) -> tuple[str, ...]:
    return (
        rule.valid_from, rule.valid_to, rule.freq, rule.byday, rule.bymonthday, rule.byweekno,
        rule.byyearday, rule.opens_at, rule.closes_at, rule.dtstart, rule.until, str(rule.count),
        rule.timezone, str(rule.closed), rule.description,
    )  # fmt: skip


def address_text(parts: dict[str, object]) -> str:
    """One line: "1 Main St, Suite 2, Providence, RI 02903" (country left out)."""
    region = " ".join(p for p in (text(parts.get("state_province")), text(parts.get("postal_code"))) if p)
    fields = (text(parts.get("address_1")), text(parts.get("address_2")), text(parts.get("city")), region)
    return ", ".join(p for p in fields if p)


def sal_id(source: str, service_id: str, sal: str, location_id: str) -> str:
    """The gateway's id: the source and the HSDS service_at_location id; a service without a
    location is known by its service id."""
    if sal:
        return f"{source}:{sal}"
    return f"{source}:{service_id}" + (f"@{location_id}" if location_id else "")
