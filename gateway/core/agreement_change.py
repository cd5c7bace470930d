"""What a new version of an agreement does to sharing: widen, narrow, or leave it as it is.

The life cycle rests on one asymmetry. Withdrawing is always allowed: a change that only
narrows sharing (a party, purpose, role, category or field fewer; a shorter retention or term;
a suspension or termination) takes effect when any one party makes it. Anything else widens,
or may widen, what moves between the parties, and binds only once every party named in the new
version has signed that exact version. A term this module cannot compare (a new title, say) is
counted as a widening: asking for signatures is the safe side of doubt.

Documents are the agreement documents as stored (the meta-schema's shape), compared as values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.core.canonical import digest

# Onward disclosure, from the most restrictive to the most permissive (34 CFR 99.33, 42 CFR 2.32).
REDISCLOSURE_ORDER = ("prohibited", "prohibited-without-consent", "permitted-under-99.33(b)")
# An agreement's status, from the most to the least sharing; reactivating climbs back up.
STATUS_ORDER = ("active", "suspended", "terminated")
# Terms compared one by one below; every other term must be equal or the change widens.
_COMPARED = frozenset(
    {
        "version",
        "status",
        "parties",
        "schedule",
        "purposes",
        "recipient_roles",
        "field_sets",
        "retention_days",
        "effective",
        "expires",
        "redisclosure",
        "min_cell_size",
    }
)
ANY_ROLE = "*"


@dataclass(frozen=True, kw_only=True)
class AgreementChange:
    """The terms a new version widens and those it narrows, each named by its path."""

    widens: tuple[str, ...]
    narrows: tuple[str, ...]

    @property
    def is_change(self) -> bool:
        return bool(self.widens or self.narrows)

    @property
    def needs_signatures(self) -> bool:
        return bool(self.widens)


def version_digest(document: Mapping[str, Any]) -> str:
    """The digest a party signs: the exact terms of one version, its number included."""
    return digest(dict(document))


def terms_digest(document: Mapping[str, Any]) -> str:
    """The terms without the gateway's version counter: the same terms again are no change."""
    return digest({k: v for k, v in document.items() if k != "version"})


def compare(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> AgreementChange:
    """How ``new`` differs from the version in force (``old``; None when there is none)."""
    if old is None:
        return AgreementChange(widens=("agreement",), narrows=())
    widens: list[str] = []
    narrows: list[str] = []
    for path, verdict in _verdicts(old, new):
        if verdict > 0:
            widens.append(path)
        elif verdict < 0:
            narrows.append(path)
    return AgreementChange(widens=tuple(widens), narrows=tuple(narrows))


def _verdicts(old: Mapping[str, Any], new: Mapping[str, Any]) -> Iterable[tuple[str, int]]:
    """(path, +1 widens | -1 narrows | 0 same) for every compared term."""
    yield "status", _ordered(STATUS_ORDER, old.get("status"), new.get("status"), reverse=True)
    yield "parties", _sets(old.get("parties", ()), new.get("parties", ()))
    yield "purposes", _sets(old.get("purposes", ()), new.get("purposes", ()))
    yield "recipient_roles", _sets(old.get("recipient_roles", ()), new.get("recipient_roles", ()))
    yield from _schedule(old.get("schedule", ()), new.get("schedule", ()))
    yield from _field_sets(old, new)
    yield "retention_days", _limit(old.get("retention_days"), new.get("retention_days"))
    yield "expires", _limit(old.get("expires"), new.get("expires"))
    yield "effective", _limit(new.get("effective"), old.get("effective"))  # later start: narrower
    yield "redisclosure", _ordered(REDISCLOSURE_ORDER, old.get("redisclosure"), new.get("redisclosure"))
    yield "min_cell_size", _floor(old.get("min_cell_size"), new.get("min_cell_size"))
    for key in sorted((set(old) | set(new)) - _COMPARED):
        yield key, 0 if old.get(key) == new.get(key) else 1


def _sets(old: Iterable[str], new: Iterable[str]) -> int:
    before, after = set(old), set(new)
    if after == before:
        return 0
    return -1 if after < before else 1


def _limit(old: Any, new: Any) -> int:
    """A bound where None means no bound (retention, end date): a larger bound widens."""
    if old == new:
        return 0
    if new is None:
        return 1
    if old is None:
        return -1
    return 1 if new > old else -1


def _floor(old: Any, new: Any) -> int:
    """A floor where None means none (the small-cell minimum): a higher floor narrows."""
    if old == new:
        return 0
    if old is None:
        return -1
    if new is None:
        return 1
    return -1 if new > old else 1


def _ordered(order: tuple[str, ...], old: Any, new: Any, *, reverse: bool = False) -> int:
    """Position in ``order`` (restrictive first); a value outside it widens, to be safe."""
    if old == new:
        return 0
    if old not in order or new not in order:
        return 1
    step = 1 if order.index(new) > order.index(old) else -1
    return -step if reverse else step


def _schedule(
    old: Iterable[Mapping[str, Any]], new: Iterable[Mapping[str, Any]]
) -> Iterable[tuple[str, int]]:
    before = {e["party"]: e for e in old}
    after = {e["party"]: e for e in new}
    for party in sorted(set(before) | set(after)):
        for direction in ("sends", "receives"):
            was = before.get(party, {}).get(direction, ())
            now = after.get(party, {}).get(direction, ())
            yield f"schedule.{party}.{direction}", _sets(was, now)


def _field_sets(old: Mapping[str, Any], new: Mapping[str, Any]) -> Iterable[tuple[str, int]]:
    """Minimum necessary per purpose and role, as the decision point reads it: a purpose without
    field sets has no limit, a role without its own set takes ``*``'s, and one with neither none."""
    purposes = sorted(set(old.get("purposes", ())) | set(new.get("purposes", ())))
    roles = sorted(set(old.get("recipient_roles", ())) | set(new.get("recipient_roles", ())) | {ANY_ROLE})
    for purpose in purposes:
        for role in roles:
            was = _visible(old.get("field_sets", {}), purpose, role)
            now = _visible(new.get("field_sets", {}), purpose, role)
            yield f"field_sets.{purpose}.{role}", _slots(was, now)


def _visible(field_sets: Mapping[str, Any], purpose: str, role: str) -> tuple[str, ...] | None:
    by_role = field_sets.get(purpose)
    if by_role is None:
        return None
    return tuple(by_role.get(role, by_role.get(ANY_ROLE, ())))


def _slots(old: tuple[str, ...] | None, new: tuple[str, ...] | None) -> int:
    if old == new or (old is not None and new is not None and set(old) == set(new)):
        return 0
    if new is None:
        return 1
    if old is None:
        return -1
    widened = any(not _covered(slot, old) for slot in new)
    return 1 if widened else -1


def _covered(slot: str, by: tuple[str, ...]) -> bool:
    # A slot is covered by itself or by an enclosing slot ('student' covers 'student.name').
    return any(slot == outer or slot.startswith(outer + ".") for outer in by)
