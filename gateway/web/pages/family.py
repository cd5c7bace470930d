"""The family's pages (issue 15, section 4): their children, a child's plan in plain words, who saw
the record and why, and the consents they give and withdraw. Thin views over
gateway/service/views/family_view.py; every word on them goes through the message catalogue
(gateway/web/translations/<lang>/family.po) or the plain-language table, in the page's language.

A child the person is not linked to, and a child that does not exist, get the same 404 page.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence

from babel.dates import format_date
from flask import Response, redirect, request
from werkzeug.datastructures import MultiDict

from gateway.core.people import FAMILY
from gateway.errors import InputInvalid, Issue
from gateway.service.runtime import Runtime
from gateway.service.views import family_view
from gateway.service.views.family_view import Grant
from gateway.service.views.family_words import words_for
from gateway.web.auth import current_runtime
from gateway.web.i18n import current_language, gettext
from gateway.web.pages.common import make_blueprint, render_page, requires_role, signed_in_person

bp = make_blueprint("family")
MAX_FIELD = 200
DONE = ("granted", "withdrawn")


def date_words(day: dt.date | None) -> str:
    """A date as words in the page's language (14 March 2010, 14 de marzo de 2010)."""
    return _long_date(day, current_language()) if day else ""


@functools.lru_cache(maxsize=4096)
def _long_date(day: dt.date, lang: str) -> str:
    # Babel parses the locale and the pattern on every call; a family page writes a few hundred
    # dates, mostly the same school days, and a date's words in a language never change.
    return format_date(day, "long", locale=lang)


@bp.get("/family")
@requires_role(FAMILY)
def children() -> Response:
    found = family_view.children_of(current_runtime(), signed_in_person())
    return render_page("family/children.html", children=found)


@bp.get("/family/<student>")
@requires_role(FAMILY)
def child(student: str) -> Response:
    rt, person, lang = current_runtime(), signed_in_person(), current_language()
    plan = family_view.read_for_family(rt, person, student, lang=lang)
    seen = () if plan.adult else family_view.who_saw(rt, person, student, lang=lang)
    lines = () if plan.adult else family_view.consents_of(rt, person, student, lang=lang)
    done = request.args.get("done", "")
    return render_page(
        "family/child.html",
        plan=plan,
        seen=seen,
        consents=lines,
        done=done if done in DONE else "",
        date_words=date_words,
    )


@bp.get("/family/<student>/consents/new")
@requires_role(FAMILY)
def grant_form(student: str) -> Response:
    rt = current_runtime()
    family_view.guardian_of(rt, signed_in_person(), student)
    return _form_page(rt, student, MultiDict(), [], status=200)


@bp.post("/family/<student>/consents")
@requires_role(FAMILY)
def grant(student: str) -> Response:
    rt, person = current_runtime(), signed_in_person()
    family_view.guardian_of(rt, person, student)
    try:
        family_view.grant_consent(rt, person, student, _grant_of(request.form))
    except InputInvalid as refused:
        return _form_page(rt, student, request.form, refused.issues, status=400)
    return redirect(f"/family/{student}?done=granted#consents", 303)  # type: ignore[return-value]


@bp.post("/family/<student>/consents/<consent_id>/withdraw")
@requires_role(FAMILY)
def withdraw(student: str, consent_id: str) -> Response:
    family_view.withdraw_consent(current_runtime(), signed_in_person(), student, consent_id[:MAX_FIELD])
    return redirect(f"/family/{student}?done=withdrawn#consents", 303)  # type: ignore[return-value]


def _grant_of(form: MultiDict[str, str]) -> Grant:
    try:
        until: dt.date | None = dt.date.fromisoformat(form.get("until", "")[:10])
    except ValueError:
        until = None  # reported with the form's other problems
    return Grant(
        grantor=form.get("grantor", "")[:MAX_FIELD],
        recipient=form.get("recipient", "")[:MAX_FIELD],
        categories=tuple(c[:MAX_FIELD] for c in form.getlist("categories")[:50]),
        purpose=form.get("purpose", "")[:MAX_FIELD],
        until=until,
    )


def _problems(issues: Sequence[Issue]) -> dict[str, str]:
    """The form's problems in the page's language, by field (the service's words are English)."""
    messages = {
        "grantor": gettext("Choose whose records may be shared."),
        "recipient": gettext("Choose who may receive them: another organization than the one sharing."),
        "categories": gettext("Choose at least one kind of record from the list."),
        "purpose": gettext("Choose what the records may be used for."),
        "until": gettext("Give a date after today, at most three years from now."),
    }
    return {i.path: messages.get(i.path, gettext("Check this answer.")) for i in issues}


def _form_page(
    rt: Runtime, student: str, form: MultiDict[str, str], issues: Sequence[Issue], *, status: int
) -> Response:
    words = words_for(rt, current_language())
    organizations = sorted(words.organizations.items(), key=lambda item: item[1])
    categories = sorted(
        ((c, words.term("category", c) or c) for c in family_view.grantable_categories(rt)),
        key=lambda i: i[1],
    )
    purposes = [(p, words.term("purpose", p)) for p in family_view.GRANTABLE_PURPOSES]
    return render_page(
        "family/grant.html",
        status=status,
        student=student,
        organizations=organizations,
        categories=categories,
        purposes=purposes,
        form=form,
        chosen=set(form.getlist("categories")),
        problems=_problems(issues),
        today=rt.now().date().isoformat(),
    )
