"""From a suggested service to a referral: the coordinator's "Refer to this service".

The suggestions are the directory match's (``directory_match.match``, as the coordinator reads the
plan). A directory organization is a registered partner when the partner's entry in the
organizations file says so (``directory_entries``: the organization's name as the directory
publishes it, and optionally which directory); only then can a suggestion become a referral, and
the referral is the same one ``spgw refer`` queues (``deliveries.refer``), to that partner, with
the purpose and role the agreements in force let it receive referrals for.

Referring repeats the search the page showed (same need, same time): a service that was not
suggested to this reader for this need cannot be referred to from here.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.core.directory import ServiceAtLocation
from gateway.core.matching import Suggestion
from gateway.core.people import Person
from gateway.errors import Conflict, Issue, NotFound
from gateway.service.directory.directory_match import MatchAnswer, MatchRequest, match
from gateway.service.identity import people
from gateway.service.policy.policies import policy_set
from gateway.service.referrals.deliveries import NOTE_CODE, DeliverySummary, refer
from gateway.service.runtime import Runtime
from gateway.service.views.coordinator_view import ReferTarget, refer_targets
from gateway.storage import organization_store

_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, kw_only=True)
class ServiceOption:
    suggestion: Suggestion
    partner: str  # the registered partner this directory organization is; "" when none
    target: ReferTarget | None  # how a referral to that partner goes; None: no agreement lets it


@dataclass(frozen=True, kw_only=True)
class NeedServices:
    answer: MatchAnswer
    options: tuple[ServiceOption, ...]
    organization_names: dict[str, str] = field(default_factory=dict)  # partner id -> name


def services_for_need(
    rt: Runtime,
    person: Person,
    student_ref: str,
    need_id: str,
    *,
    when: dt.datetime | None = None,
    timezone: str = "UTC",
) -> NeedServices:
    """The directory's suggestions for one need, each with the partner it is (if any)."""
    read = people.read_request_for(person, "")
    answer = match(
        rt,
        MatchRequest(
            student_ref=student_ref,
            need_id=need_id,
            organization_id=read.organization_id,
            actor=person.id,
            role=read.role,
            purpose=read.purpose,
            when=when,
            timezone=timezone,
        ),
    )
    with rt.sessions() as session:
        docs = organization_store.organization_docs(session)
        targets = {
            t.organization: t
            for t in refer_targets(policy_set(session, rt), docs, read.organization_id, rt.now().date())
        }
    options = []
    for suggestion in answer.suggestions:
        partner = partner_for(suggestion.service, docs)
        options.append(ServiceOption(suggestion=suggestion, partner=partner, target=targets.get(partner)))
    names = {str(d["id"]): str(d.get("name", d["id"])) for d in docs}
    return NeedServices(answer=answer, options=tuple(options), organization_names=names)


def refer_to_service(
    rt: Runtime,
    person: Person,
    student_ref: str,
    need_id: str,
    service_id: str,
    *,
    when: dt.datetime | None = None,
    timezone: str = "UTC",
) -> DeliverySummary:
    """Queue the referral of the student to the partner a suggested service belongs to."""
    found = services_for_need(rt, person, student_ref, need_id, when=when, timezone=timezone)
    option = next((o for o in found.options if o.suggestion.service.id == service_id), None)
    if option is None:
        raise NotFound(
            "this service is not among the suggestions for this need",
            [Issue(path="service", message="search again and choose one of the services listed")],
        )
    if option.target is None:
        raise Conflict(
            "this service's organization is not a partner that may receive referrals from your organization",
            [Issue(path="service", message="contact the service directly")],
        )
    return refer(
        rt,
        student_ref=found.answer.student_id,
        source_org=person.organization_id,
        recipient_org=option.target.organization,
        actor=person.id,
        role=option.target.default_role,
        purpose=option.target.default_purpose,
        note_code=need_code(found.answer.need),
    )


def need_code(need: Mapping[str, Any]) -> str | None:
    """The need's code as a referral's reason code, when it is one a reason code may be."""
    code = str(need.get("code", {}).get("code", ""))
    return code if NOTE_CODE.match(code) else None


def partner_for(service: ServiceAtLocation, organizations: Iterable[Mapping[str, Any]]) -> str:
    """The registered partner whose ``directory_entries`` name the service's organization ("" if none)."""
    name = _folded(service.organization)
    for doc in organizations:
        for entry in doc.get("directory_entries", []):
            same_source = entry.get("source") in (None, "", service.source)
            if name and same_source and _folded(str(entry.get("organization", ""))) == name:
                return str(doc["id"])
    return ""


def _folded(name: str) -> str:
    # Directories write names with their own case and spacing: "Northside  Food bank".
    return _SPACES.sub(" ", name).strip().casefold()
