"""Pulling a district's Ed-Fi ODS/API into the gateway: a full or a delta sync.

Every page the ODS/API answers is staged as one message through the normal pipeline
(``ingest``, format ``edfi-json``, entity = the resource), so nothing is lost and every page can
be replayed. A delta sync reads the change window after the stored watermark
(``availableChangeVersions``); for each resource it applies key changes first (the old key's
plan elements leave; the item arrives with its new key among the changed items), then deletes,
then the changed items, so a record deleted and re-created in one window ends present. The
newest change version is saved only after the whole window succeeded: a failure leaves the
watermark where it was and the next run pulls the same window again (re-ingest is idempotent).

Reference-data resources (``mappings/codes/edfi-reference-data.yaml``: assessments, gradebook
entries, schools, ...) are pulled the same way, first in a default sync so the facts that name
them find them; their deletes and key changes forget the kept record. A default sync leaves out
a reference resource the ODS/API refuses (403: the client's claim set does not cover it; 404:
its data model lacks it) with a problem line, rather than failing the student data. Resources
the gateway ignores are never pulled.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from gateway.clients.edfi_api import ChangeVersions, ChangeWindow, EdFiClient
from gateway.clients.edfi_auth import ClientCredentials
from gateway.clients.edfi_http import RetryPolicy
from gateway.clients.edfi_paging import MAX_PAGE_SIZE
from gateway.core.canonical import digest
from gateway.core.mapping_model import Mapping
from gateway.core.reference_data import ReferenceEntity, ignored_reason
from gateway.errors import AccessDenied, InputInvalid, Issue, UpstreamFailed
from gateway.service.exchange.inbound import Inbound
from gateway.service.exchange.ingest import ingest
from gateway.service.exchange.reference_data import forget, reference_entities
from gateway.service.exchange.retractions import retract_records
from gateway.service.runtime import Runtime
from gateway.service.sources.edfi_keys import missing_key_names, source_id_from
from gateway.service.sources.edfi_reference_keys import missing_names, reference_digest
from gateway.service.sources.edfi_summary import ResourceTally, SyncSummary
from gateway.storage import message_store, organization_store

FORMAT = "edfi-json"
Progress = Callable[[str, int, int | None], None]  # resource, records so far, total when known

# Students register the plan; associations link records to schools; everything else follows.
_FIRST = ("students", "studentSchoolAssociations", "studentEducationOrganizationAssociations")
_BEFORE_DS5, _SINCE_DS5 = frozenset({"studentParentAssociations"}), frozenset({"studentContactAssociations"})


@dataclass(frozen=True, kw_only=True)
class _SyncPlan:
    mode: str  # full | delta | up-to-date
    window: ChangeWindow | None
    watermark_from: int | None
    watermark_to: int | None
    note: str = ""


def mapped_resources(rt: Runtime) -> list[str]:
    """The Ed-Fi resources the gateway has mappings for, in dependency order."""
    names = [entity for (fmt, entity) in rt.artifacts.mappings if fmt == FORMAT]
    rank = {name: i for i, name in enumerate(_FIRST)}
    return sorted(names, key=lambda n: (rank.get(n, len(_FIRST)), n))


def reference_resources(rt: Runtime) -> list[str]:
    """The Ed-Fi resources the gateway keeps as reference data (none of them mapped)."""
    mapped = set(mapped_resources(rt))
    return sorted(name for name in reference_entities(rt, FORMAT) if name not in mapped)


def pullable_resources(rt: Runtime) -> list[str]:
    """Everything a pull may ask for, in pull order: reference data first, then the mapped resources."""
    return reference_resources(rt) + mapped_resources(rt)


def offered_by(names: list[str], data_models: tuple[tuple[str, str], ...]) -> list[str]:
    """The resources the ODS/API's Ed-Fi data model has: DS 5 renamed parents to contacts, so a
    default pull asks a DS 4 server for studentParentAssociations and a DS 5+ one for
    studentContactAssociations (an unknown data model is asked for both)."""
    version = next((v for name, v in data_models if name == "Ed-Fi"), "")
    major = re.match(r"\d+", version)
    if major is None:
        return names
    left_out = _BEFORE_DS5 if int(major.group()) >= 5 else _SINCE_DS5
    return [name for name in names if name not in left_out]


def feed_name(base_url: str) -> str:
    name = "edfi:" + base_url.rstrip("/")
    return name if len(name) <= 120 else "edfi:" + digest(base_url.rstrip("/"))[:64]


def pull_edfi(
    rt: Runtime,
    *,
    source_org: str,
    base_url: str,
    client_id: str,
    client_secret: str,
    resources: Iterable[str] | None = None,
    full: bool = False,
    progress: Progress | None = None,
    retry: RetryPolicy | None = None,
    paging: str = "auto",
    page_size: int = MAX_PAGE_SIZE,
    school_year: int | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> SyncSummary:
    _check_partner(rt, source_org)
    chosen = _choose(rt, resources)
    client = EdFiClient(
        base_url,
        ClientCredentials(client_id=client_id, client_secret=client_secret),
        retry=retry,
        clock=clock,
        page_size=page_size,
        paging=paging,
        school_year=school_year,
    )
    feed = feed_name(base_url)
    with client:
        discovery = client.discover()
        if resources is None:
            chosen = offered_by(chosen, discovery.data_models)
        plan = _plan(_watermark(rt, source_org, feed), client.available_change_versions(), full)
        tallies = (
            []
            if plan.mode == "up-to-date"
            else [
                _sync_resource(rt, client, (source_org, name), plan.window, progress, resources is None)
                for name in chosen
            ]
        )
    # Only now, with every resource of the window through, does the watermark move.
    if plan.watermark_to is not None:
        _save_watermark(rt, source_org, feed, plan, chosen)
    return SyncSummary(
        source_org=source_org,
        feed=feed,
        mode=plan.mode,
        watermark_from=plan.watermark_from,
        watermark_to=plan.watermark_to,
        resources=tuple(t.freeze() for t in tallies),
        notes=(plan.note,) if plan.note else (),
        tokens_fetched=client.tokens_fetched,
    )


def _check_partner(rt: Runtime, source_org: str) -> None:
    with rt.sessions() as session:
        known = any(o["id"] == source_org for o in organization_store.organization_docs(session))
    if not known:
        raise AccessDenied(
            f"'{source_org}' is not a registered partner",
            [Issue(path="source", message="register the organization first (spgw init --with-samples)")],
        )


def _choose(rt: Runtime, resources: Iterable[str] | None) -> list[str]:
    pullable = pullable_resources(rt)
    if resources is None:
        return pullable
    wanted = list(dict.fromkeys(resources))
    unknown = [r for r in wanted if r not in pullable]
    if unknown:
        raise InputInvalid(
            "some resources cannot be pulled: only mapped and reference-data resources are",
            [Issue(path=f"--resource {r}", message=_why_not(rt, r)) for r in unknown],
        )
    rank = {name: i for i, name in enumerate(pullable)}
    return sorted(wanted, key=rank.__getitem__)


def _why_not(rt: Runtime, resource: str) -> str:
    ignored = ignored_reason(rt.artifacts.codes.get("ignored-records", {}), FORMAT, resource)
    what = (
        f"the gateway ignores it ({ignored})"
        if ignored
        else "the gateway has no mapping or reference table for it"
    )
    return (
        f"{what}; mapped resources are: {', '.join(mapped_resources(rt))}; "
        f"reference-data resources are: {', '.join(reference_resources(rt))}"
    )


def _watermark(rt: Runtime, source_org: str, feed: str) -> int | None:
    with rt.sessions() as session:
        state = message_store.get_sync_state(session, source_org, feed)
        return int(state.watermark) if state is not None and state.watermark else None


def _plan(previous: int | None, versions: ChangeVersions | None, full: bool) -> _SyncPlan:
    if versions is None:
        note = "the ODS/API offers no change queries: every run is a full pull"
        return _SyncPlan(mode="full", window=None, watermark_from=previous, watermark_to=None, note=note)
    if full or previous is None:
        return _SyncPlan(mode="full", window=None, watermark_from=previous, watermark_to=versions.newest)
    if previous < versions.oldest - 1:
        note = (
            f"the ODS/API change log starts at {versions.oldest}, after the watermark {previous}: "
            "changes in between are gone, so a full pull was made"
        )
        return _SyncPlan(
            mode="full", window=None, watermark_from=previous, watermark_to=versions.newest, note=note
        )
    if versions.newest <= previous:
        return _SyncPlan(mode="up-to-date", window=None, watermark_from=previous, watermark_to=previous)
    window = ChangeWindow(low=previous + 1, high=versions.newest)
    return _SyncPlan(mode="delta", window=window, watermark_from=previous, watermark_to=versions.newest)


def _sync_resource(
    rt: Runtime,
    client: EdFiClient,
    what: tuple[str, str],
    window: ChangeWindow | None,
    progress: Progress | None,
    default_sync: bool,
) -> ResourceTally:
    source_org, resource = what
    tally = ResourceTally(resource=resource)
    mapping = rt.artifacts.mappings.get((FORMAT, resource))
    reference = None if mapping is not None else reference_entities(rt, FORMAT)[resource]
    try:
        _pull_resource(rt, client, (source_org, mapping or reference), window, progress, tally)
    except UpstreamFailed as exc:
        if not (
            default_sync and reference is not None and tally.pages == 0 and client.last_refusal in (403, 404)
        ):
            raise
        # Counted with the pull's problems (ids and statuses only); --full after a grant fills it in.
        text = f"{exc.message}: left out of this pull (the facts naming it show no reference)"
        tally.problems[text] = tally.problems.get(text, 0) + 1
    return tally


def _pull_resource(
    rt: Runtime,
    client: EdFiClient,
    what: tuple[str, Mapping | ReferenceEntity | None],
    window: ChangeWindow | None,
    progress: Progress | None,
    tally: ResourceTally,
) -> None:
    source_org, kind = what
    assert kind is not None
    resource = tally.resource
    if window is not None:
        for page in client.key_changes(resource, window):
            rows = [row.get("oldKeyValues") for row in page.items]
            tally.key_changes_seen += len(rows)
            tally.key_changes_applied += _retract(rt, source_org, kind, rows, "Ed-Fi key change", tally)
        for page in client.deletes(resource, window):
            rows = [row.get("keyValues") for row in page.items]
            tally.deletes_seen += len(rows)
            tally.deletes_applied += _retract(rt, source_org, kind, rows, "Ed-Fi delete", tally)
    for page in client.pages(resource, window):
        if page.items:
            summary = ingest(
                rt, Inbound(source_org=source_org, format_name=FORMAT, payload=page.body, entity=resource)
            )
            tally.add_page(len(page.items), summary)
        if progress is not None:
            progress(resource, tally.records, page.total)


def _retract(
    rt: Runtime,
    source_org: str,
    kind: Mapping | ReferenceEntity,
    rows: list[object],
    reason: str,
    tally: ResourceTally,
) -> int:
    """Retract the records these key values name (a kept reference record is forgotten); report
    rows that name none. Returns records retracted."""
    if isinstance(kind, ReferenceEntity):
        return _forget(rt, source_org, kind, rows, reason, tally)
    ids: list[str] = []
    for row in rows:
        values = row if isinstance(row, dict) else {}
        source_id = source_id_from(kind, values)
        if source_id is None:
            tally.unapplied(reason, missing_key_names(kind, values))
        else:
            ids.append(source_id)
    if not ids:
        return 0
    done = retract_records(rt, source_org=source_org, entity=kind.entity, source_ids=ids, reason=reason)
    tally.elements_removed += done.elements_removed
    return done.records


def _forget(
    rt: Runtime,
    source_org: str,
    entity: ReferenceEntity,
    rows: list[object],
    reason: str,
    tally: ResourceTally,
) -> int:
    digests: list[str] = []
    for row in rows:
        values = row if isinstance(row, dict) else {}
        found = reference_digest(source_org, entity, values)
        if found is None:
            tally.unapplied(reason, missing_names(entity, values))
        else:
            digests.append(found)
    return forget(rt, source_org, entity.entity, digests) if digests else 0


def _save_watermark(rt: Runtime, source_org: str, feed: str, plan: _SyncPlan, resources: list[str]) -> None:
    details = {"mode": plan.mode, "previous": plan.watermark_from, "resources": resources}
    with rt.sessions.begin() as session:
        message_store.save_sync_state(session, source_org, feed, str(plan.watermark_to), details, rt.now())
