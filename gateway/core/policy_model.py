"""Values the policy decision point reads: agreements, the policy set, and requests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from gateway.core.canonical import digest

# What an action means for the agreement schedule of the source and of the recipient.
INBOUND = "ingest"  # a partner sends records about a student to the gateway
READ = "read"  # an actor of a partner reads (part of) a plan
DISCLOSE = "disclose"  # the gateway sends records to a partner (referral delivery)
EXPORT = "export"  # a partner takes a copy of a plan out of the gateway
AGGREGATE = "aggregate"  # counts over many students (small cells suppressed)
ACTIONS = frozenset({INBOUND, READ, DISCLOSE, EXPORT, AGGREGATE})


@dataclass(frozen=True, kw_only=True)
class ScheduleEntry:
    party: str
    sends: frozenset[str]
    receives: frozenset[str]


@dataclass(frozen=True, kw_only=True)
class Agreement:
    id: str
    version: int
    parties: frozenset[str]
    status: str  # draft | active | suspended | terminated
    effective: dt.date
    expires: dt.date | None
    schedule: tuple[ScheduleEntry, ...]
    purposes: frozenset[str]
    recipient_roles: frozenset[str]
    retention_days: int | None = None
    redisclosure: str | None = None
    min_cell_size: int | None = None
    # purpose -> role -> plan slots the recipient may see (minimum necessary, R8)
    field_sets: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)

    def entry_for(self, party: str) -> ScheduleEntry | None:
        return next((e for e in self.schedule if e.party == party), None)

    def in_force(self, today: dt.date) -> bool:
        return (
            self.status == "active"
            and self.effective <= today
            and (self.expires is None or today <= self.expires)
        )

    def field_set(self, purpose: str, role: str) -> tuple[str, ...] | None:
        """The slots ``role`` may see for ``purpose``; None when the agreement sets no limit.

        A purpose with field sets but none for this role (and no ``*``) yields nothing: fail closed.
        """
        by_role = self.field_sets.get(purpose)
        if by_role is None:
            return None
        return by_role.get(role, by_role.get("*", ()))


@dataclass(frozen=True, kw_only=True)
class PolicySet:
    organizations: Mapping[str, str]  # organization id -> kind
    agreements: tuple[Agreement, ...]
    purposes: frozenset[str]
    roles: frozenset[str]
    categories: frozenset[str]
    part2_minor_self_consent: bool = True  # 42 CFR 2.14 where state law lets minors consent alone

    @cached_property
    def version(self) -> str:
        parts = sorted(f"{a.id}@{a.version}:{a.status}" for a in self.agreements)
        return digest(parts)[7:19]


@dataclass(frozen=True, kw_only=True)
class DecisionRequest:
    action: str
    source_org: str
    recipient_org: str
    categories: frozenset[str]
    regimes: frozenset[str] = frozenset()
    sensitivities: frozenset[str] = frozenset()
    student_id: str = ""
    student_birth_date: dt.date | None = None
    actor: str = ""
    role: str = ""
    purpose: str = ""
    emergency_reason: str = ""

    def digest_body(self) -> dict[str, object]:
        return {
            "action": self.action,
            "source": self.source_org,
            "recipient": self.recipient_org,
            "categories": sorted(self.categories),
            "regimes": sorted(self.regimes),
            "sensitivities": sorted(self.sensitivities),
            "student": self.student_id,
            "actor": self.actor,
            "role": self.role,
            "purpose": self.purpose,
            "birthDate": self.student_birth_date.isoformat() if self.student_birth_date else None,
            "emergency": digest(self.emergency_reason) if self.emergency_reason else None,
        }
