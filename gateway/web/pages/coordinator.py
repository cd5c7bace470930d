"""The coordinator's pages (issue 15 section 3, issue 16): their students, a student's plan by
domain with what the view can and cannot include and the referrals with their history, a "Refer"
form over the service ``spgw refer`` uses, and the directory's suggestions for a need, each one
a referral away when its organization is a partner.

Thin views: each parses the form or query, calls one service function and renders. Every error a
service raises is the blueprint's error page (an unknown student and one the coordinator may not
see are the same 404); a refused referral is shown on the student's page instead.
"""

from __future__ import annotations

from typing import Any

from flask import Response, redirect, request

from gateway.core.people import COORDINATOR
from gateway.errors import AccessDenied, Conflict, InputInvalid, Issue, NotFound
from gateway.service.referrals.deliveries import refer
from gateway.service.referrals.suggestion_referral import refer_to_service, services_for_need
from gateway.service.views.coordinator_view import student_page, students_of
from gateway.web.auth import current_runtime
from gateway.web.i18n import gettext
from gateway.web.pages.common import make_blueprint, render_page, requires_role, signed_in_person
from gateway.web.params import iso_datetime

bp = make_blueprint("coordinator")
MAX_FIELD = 300
REFUSALS = (InputInvalid, NotFound, Conflict, AccessDenied)


@bp.get("/students")
@requires_role(COORDINATOR)
def students() -> Response:
    query = request.args.get("q", "")[:MAX_FIELD]
    found = students_of(current_runtime(), signed_in_person(), query)
    if query and len(found) == 1:
        return _to_student(found[0].student_id)
    return render_page("coordinator/students.html", students=found, query=query)


@bp.get("/students/<ref>")
@requires_role(COORDINATOR)
def student(ref: str) -> Response:
    return _student(ref, referred=request.args.get("referred", "")[:MAX_FIELD])


@bp.post("/students/<ref>/referrals")
@requires_role(COORDINATOR)
def refer_student(ref: str) -> Response:
    person, form = signed_in_person(), _form("recipient", "purpose", "role", "reason_code")
    # A student the coordinator may not see is the plan read's 404, before anything is queued.
    page = student_page(current_runtime(), person, ref)
    try:
        summary = refer(
            current_runtime(),
            student_ref=page.student_id,
            source_org=person.organization_id,
            recipient_org=form["recipient"],
            actor=person.id,
            role=form["role"],
            purpose=form["purpose"],
            note_code=form["reason_code"] or None,
        )
    except REFUSALS as exc:
        return _student(ref, refused=exc, form=form)
    return _to_student(summary.student_id, referred=summary.id)


@bp.get("/students/<ref>/needs/<need>/services")
@requires_role(COORDINATOR)
def need_services(ref: str, need: str) -> Response:
    when, tz = iso_datetime(request.args.get("when", "")), request.args.get("tz", "UTC")[:64]
    found = services_for_need(current_runtime(), signed_in_person(), ref, need, when=when, timezone=tz)
    return render_page("coordinator/services.html", ref=ref, found=found, tz=tz, words=words())


@bp.post("/students/<ref>/needs/<need>/referrals")
@requires_role(COORDINATOR)
def refer_to_suggestion(ref: str, need: str) -> Response:
    form = _form("service", "when", "tz")
    summary = refer_to_service(
        current_runtime(),
        signed_in_person(),
        ref,
        need,
        form["service"],
        when=iso_datetime(form["when"]),
        timezone=form["tz"] or "UTC",
    )
    return _to_student(summary.student_id, referred=summary.id)


def _student(ref: str, *, referred: str = "", refused: Exception | None = None, form: Any = None) -> Response:
    page = student_page(current_runtime(), signed_in_person(), ref)
    return render_page(
        "coordinator/student.html",
        status=_status_of(refused),
        page=page,
        words=words(),
        referred=referred,
        refused=_words_of(refused),
        form=form or {},
    )


def _status_of(refused: Exception | None) -> int:
    if refused is None:
        return 200
    return 400 if isinstance(refused, InputInvalid) else 409 if isinstance(refused, Conflict) else 403


def _words_of(refused: Exception | None) -> list[str]:
    """What to tell the coordinator: the message and each issue (paths and remedies, never values).
    A referral of which nothing may go says so in the page's words (the service's are an API's)."""
    if refused is None:
        return []
    if isinstance(refused, NotFound):
        return [gettext("Nothing in this plan may go to that organization for that purpose and role.")]
    issues: list[Issue] = list(getattr(refused, "issues", []))
    return [str(getattr(refused, "message", refused))] + [f"{i.path}: {i.message}" for i in issues]


def _form(*names: str) -> dict[str, str]:
    return {name: request.form.get(name, "").strip()[:MAX_FIELD] for name in names}


def _to_student(student_id: str, *, referred: str = "") -> Response:
    target = f"/students/{student_id}" + (f"?referred={referred}#referrals" if referred else "")
    return redirect(target, 303)  # type: ignore[return-value]


def words() -> dict[str, dict[str, str]]:
    """The page's words for codes (sections, domains, categories, statuses), translated once per
    page rather than once per fact."""
    domains = {
        "academic": gettext("Academic"),
        "attendanceEngagement": gettext("Attendance and engagement"),
        "socialEmotionalBehavioral": gettext("Social, emotional and behavioral"),
        "physicalMentalHealth": gettext("Physical and mental health"),
        "familyBasicNeeds": gettext("Family and basic needs"),
        "enrichmentInterests": gettext("Enrichment and interests"),
    }
    return {
        "domains": domains,
        "sections": {
            "strengths": gettext("Strengths"),
            "interests": gettext("Interests"),
            "needs": gettext("Needs"),
            "goals": gettext("Goals"),
            "supports": gettext("Supports and referrals"),
            **{f"domains.{key}.facts": name for key, name in domains.items()},
            "team": gettext("Team"),
            "student.languages": gettext("Languages"),
            "student.enrollments": gettext("Enrollments"),
            "student.identifiers": gettext("Identifiers"),
            "student.locations": gettext("Where the family lives"),
        },
        "categories": {
            "identity": gettext("identity"),
            "enrollment": gettext("enrollment"),
            "attendance": gettext("attendance"),
            "academic": gettext("academic"),
            "programs": gettext("program"),
            "behavior": gettext("behavior"),
            "school-health": gettext("school health"),
            "roster": gettext("class roster"),
            "sdoh-screening": gettext("social-needs screening"),
            "health-condition": gettext("health condition"),
            "care-plan": gettext("care plan"),
            "referral": gettext("referral"),
            "substance-use": gettext("substance-use (42 CFR Part 2)"),
            "demographics-sensitive": gettext("sensitive demographic"),
            "location": gettext("family location"),
        },
        "headers": {
            "name": gettext("Name"),
            "birthDate": gettext("Birth date"),
            "gradeLevel": gettext("Grade"),
            "school": gettext("School"),
        },
        "regimes": {
            "not-covered": gettext("non-health, non-education"),
            "FERPA": gettext("FERPA (education)"),
            "HIPAA": gettext("HIPAA (health)"),
            "42CFRPart2": gettext("42 CFR Part 2"),
        },
        "statuses": {
            "queued": gettext("queued"),
            "sending": gettext("sending"),
            "sent": gettext("sent"),
            "failed": gettext("failed"),
            "cancelled": gettext("cancelled"),
            "requested": gettext("requested"),
            "accepted": gettext("accepted"),
            "in-progress": gettext("in progress"),
            "on-hold": gettext("on hold"),
            "completed": gettext("completed"),
            "rejected": gettext("rejected"),
            "draft": gettext("draft"),
            "received": gettext("received"),
        },
    }
