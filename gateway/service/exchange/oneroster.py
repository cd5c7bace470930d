"""OneRoster CSV bundles in, with the manifest's bulk and delta semantics.

``ingest_oneroster`` stages the bundle (a zip; a folder is zipped deterministically first) as one
``oneroster-csv`` message through the normal pipeline, then applies what the manifest declares:

- a ``bulk`` file is the complete set: records this source sent before under that file's entity
  that the new file no longer names are retracted (their plan elements removed, audited). A row
  that is present but rejected still counts as present: a typo never deactivates a record.
- a ``delta`` file's rows marked ``tobedeleted`` (or the 1.0 ``inactive``) are retracted; its
  ``active`` rows are mapped like any other.

A bundle refused as a whole (no manifest, missing columns) is stored as rejected and retracts
nothing. What was read although the binding says otherwise (``TRUE`` booleans, ``Scheduled``,
date-times in date columns, ...) is listed in the summary's ``warnings``, one per file, column
and rule with its count (``gateway.formats.oneroster_leniency``).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.core.guardians import oneroster_absent
from gateway.errors import InputInvalid, Issue
from gateway.formats.oneroster_csv import BundleInfo, inspect_bundle
from gateway.formats.oneroster_family import FAMILY_USERS
from gateway.formats.oneroster_leniency import ReadWarning
from gateway.service.exchange.inbound import Inbound
from gateway.service.exchange.ingest import IngestSummary, ingest
from gateway.service.exchange.retractions import RetractionSummary, known_source_ids, retract_records
from gateway.service.runtime import Runtime

FORMAT = "oneroster-csv"
# Files whose records are mapped into plans, so a bulk absence or a delta deletion can retract them.
SYNCED_FILES: tuple[str, ...] = ("users", "enrollments", "results")
Progress = Callable[[int, int], None]
_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed zip timestamps: the same folder always zips to the same bytes


@dataclass(frozen=True, kw_only=True)
class OneRosterSummary:
    ingest: IngestSummary
    version: str
    modes: dict[str, str]
    notes: tuple[Issue, ...]
    warnings: tuple[ReadWarning, ...] = field(default=())
    retractions: tuple[RetractionSummary, ...] = field(default=())

    @property
    def outcome(self) -> dict[str, Any]:
        return self.ingest.outcome

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.ingest.to_dict(),
            "warnings": [w.to_dict() for w in self.warnings],
            "oneroster": {
                "version": self.version,
                "files": self.modes,
                "notes": [n.to_dict() for n in self.notes],
                "retractions": [r.to_dict() for r in self.retractions],
            },
        }


def ingest_oneroster(
    rt: Runtime,
    *,
    source_org: str,
    path_or_bytes: Path | str | bytes,
    progress: Progress | None = None,
) -> OneRosterSummary:
    payload = bundle_bytes(path_or_bytes)
    try:
        info: BundleInfo | None = inspect_bundle(payload)
    except InputInvalid:
        info = None  # the pipeline stages it and stores why it was refused
    summary = ingest(
        rt, Inbound(source_org=source_org, format_name=FORMAT, payload=payload, bulk=True), progress=progress
    )
    if info is None or "error" in summary.outcome:
        return OneRosterSummary(ingest=summary, version=info.version if info else "", modes={}, notes=())
    retractions = apply_manifest(rt, source_org=source_org, info=info, message_id=summary.message_id)
    return OneRosterSummary(
        ingest=summary,
        version=info.version,
        modes=dict(sorted(info.modes.items())),
        notes=tuple(info.notes),
        warnings=info.warnings,
        retractions=retractions,
    )


def apply_manifest(
    rt: Runtime, *, source_org: str, info: BundleInfo, message_id: str
) -> tuple[RetractionSummary, ...]:
    done: list[RetractionSummary] = []
    for stem in SYNCED_FILES:
        mode = info.modes.get(stem, "absent")
        if mode == "bulk":
            gone = known_source_ids(rt, source_org=source_org, entity=stem) - info.seen.get(stem, set())
            reason = f"absent from the bulk {stem}.csv"
        elif mode == "delta":
            gone = info.deactivated.get(stem, set())
            reason = f"marked tobedeleted or inactive in the delta {stem}.csv"
        else:
            continue
        if gone:
            done.append(
                retract_records(
                    rt,
                    source_org=source_org,
                    entity=stem,
                    source_ids=sorted(gone),
                    reason=reason,
                    message_id=message_id,
                )
            )
    family = _family_retraction(rt, source_org, info, message_id)
    return tuple(done) + ((family,) if family is not None else ())


def _family_retraction(
    rt: Runtime, source_org: str, info: BundleInfo, message_id: str
) -> RetractionSummary | None:
    """Family users (one record per student they name) whose users row no longer names that
    student, or is gone from a bulk file or marked tobedeleted: their guardian links go."""
    mode = info.modes.get("users", "absent")
    if mode not in ("bulk", "delta"):
        return None
    gone = oneroster_absent(
        known_source_ids(rt, source_org=source_org, entity=FAMILY_USERS),
        mode=mode,
        rows=info.seen.get("users", set()),
        pairs=info.seen.get(FAMILY_USERS, set()),
        deactivated=info.deactivated.get("users", set()),
    )
    if not gone:
        return None
    return retract_records(
        rt,
        source_org=source_org,
        entity=FAMILY_USERS,
        source_ids=sorted(gone),
        reason=f"no longer named by the {mode} users.csv",
        message_id=message_id,
    )


def bundle_bytes(path_or_bytes: Path | str | bytes) -> bytes:
    """A zip's bytes: given bytes as they are, a zip file read, a folder zipped deterministically."""
    if isinstance(path_or_bytes, bytes):
        return path_or_bytes
    path = Path(path_or_bytes)
    if not path.is_dir():
        return path.read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for member in sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() == ".csv"):
            info = zipfile.ZipInfo(member.name, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, member.read_bytes())
    return buffer.getvalue()
