"""core.retention: which payload copy is past retention on a day, as a table."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.core.policy_model import Agreement
from gateway.core.retention import (
    DELIVERY,
    KEEP,
    MESSAGE,
    PENDING,
    PURGE,
    PURGED,
    Copy,
    retain_until_dates,
    verdict,
)

D = dt.date


def agreement(
    id_: str, parties: set[str], days: int | None, effective: str = "2026-01-01", expires: str | None = None
) -> Agreement:
    return Agreement(
        id=id_,
        version=1,
        parties=frozenset(parties),
        status="active",
        effective=D.fromisoformat(effective),
        expires=D.fromisoformat(expires) if expires else None,
        schedule=(),
        purposes=frozenset(),
        recipient_roles=frozenset(),
        retention_days=days,
    )


AGREEMENTS = (
    agreement("long", {"isd", "clinic"}, 1095),
    agreement("short", {"isd", "clinic", "bank"}, 365),
    agreement("none", {"isd", "school"}, None),
    agreement("old", {"isd", "archive"}, 30, effective="2024-01-01", expires="2024-12-31"),
)


def message(
    status: str = "mapped", source: str = "clinic", created: str = "2026-02-01", **kw: object
) -> Copy:
    return Copy(kind=MESSAGE, id="m1", status=status, created=D.fromisoformat(created), source=source, **kw)  # type: ignore[arg-type]


def delivery(status: str = "sent", recipient: str = "bank", **kw: object) -> Copy:
    return Copy(
        kind=DELIVERY, id="d1", status=status, created=D(2026, 2, 1), source="isd", recipient=recipient, **kw
    )  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("copy", "today", "action", "ends", "agreements"),
    [
        # the shortest retention among the agreements naming the source wins (most protective)
        (message(), D(2027, 2, 1), KEEP, D(2027, 2, 1), ("short@1",)),
        (message(), D(2027, 2, 2), PURGE, D(2027, 2, 1), ("short@1",)),
        # a replay may still need a held/received/failed copy: past retention, but kept
        (message("held"), D(2027, 2, 2), PENDING, D(2027, 2, 1), ("short@1",)),
        (message("failed"), D(2027, 2, 2), PENDING, D(2027, 2, 1), ("short@1",)),
        (message("received"), D(2027, 2, 2), PENDING, D(2027, 2, 1), ("short@1",)),
        (message("partial"), D(2027, 2, 2), PURGE, D(2027, 2, 1), ("short@1",)),
        (message("rejected"), D(2027, 2, 2), PURGE, D(2027, 2, 1), ("short@1",)),
        # no agreement with a retention names the source: no end, kept
        (message(source="school"), D(2040, 1, 1), KEEP, None, ()),
        (message(source="stranger"), D(2040, 1, 1), KEEP, None, ()),
        # the agreement in its term when the copy was made governs, not one ended before
        (message(source="archive", created="2024-06-01"), D(2024, 7, 2), PURGE, D(2024, 7, 1), ("old@1",)),
        (message(source="archive", created="2026-06-01"), D(2030, 1, 1), KEEP, None, ()),
        (message(purged=True), D(2030, 1, 1), PURGED, D(2027, 2, 1), ("short@1",)),
        # deliveries: agreements naming both source and recipient
        (delivery(), D(2027, 2, 2), PURGE, D(2027, 2, 1), ("short@1",)),
        (delivery(recipient="clinic"), D(2027, 2, 1), KEEP, D(2027, 2, 1), ("short@1",)),
        (delivery(recipient="school"), D(2040, 1, 1), KEEP, None, ()),
        (delivery("queued"), D(2027, 2, 2), PENDING, D(2027, 2, 1), ("short@1",)),
        (delivery("sending"), D(2027, 2, 2), PENDING, D(2027, 2, 1), ("short@1",)),
        (delivery("cancelled"), D(2027, 2, 2), PURGE, D(2027, 2, 1), ("short@1",)),
        (delivery("failed"), D(2027, 2, 2), PURGE, D(2027, 2, 1), ("short@1",)),
        # the decision's retain-until obligation, where recorded, governs (earliest wins)
        (delivery(retain_until=(D(2026, 3, 1), D(2026, 5, 1))), D(2026, 3, 2), PURGE, D(2026, 3, 1), ()),
        (delivery(retain_until=(D(2026, 3, 1),)), D(2026, 3, 1), KEEP, D(2026, 3, 1), ()),
    ],
)
def test_verdict(
    copy: Copy, today: dt.date, action: str, ends: dt.date | None, agreements: tuple[str, ...]
) -> None:
    found = verdict(copy, AGREEMENTS, today)
    assert (found.action, found.ends, found.agreements) == (action, ends, agreements)


def test_a_delivery_between_parties_of_one_agreement_only_takes_its_retention() -> None:
    # isd -> clinic is named by "long" (1095) and "short" (365): the shorter still wins
    found = verdict(delivery(recipient="clinic"), AGREEMENTS, D(2027, 2, 2))
    assert found.ends == D(2027, 2, 1)


@pytest.mark.parametrize(
    ("obligations", "dates"),
    [
        ([{"type": "retain-until", "agreement": "a", "date": "2027-01-01"}], (D(2027, 1, 1),)),
        ([{"type": "attach-notice"}, {"type": "retain-until", "date": "bad"}], ()),
        (
            [{"type": "retain-until", "date": "2027-01-01"}, {"type": "retain-until", "date": "2026-01-01"}],
            (D(2027, 1, 1), D(2026, 1, 1)),
        ),
        ([], ()),
    ],
)
def test_retain_until_dates(obligations: list[dict[str, str]], dates: tuple[dt.date, ...]) -> None:
    assert retain_until_dates(obligations) == dates
