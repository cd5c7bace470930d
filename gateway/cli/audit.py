"""`spgw audit ...` (registered on the main group by gateway.cli): the tamper-evident audit trail.

Each part of the compliance work keeps its commands in a module of its own that attaches them
to ``audit_group``; ``register`` imports those modules."""

from __future__ import annotations

import click


@click.group("audit")
def audit_group() -> None:
    """The tamper-evident audit trail."""


def register(main: click.Group) -> None:
    from gateway.cli import (
        audit_disclosures,  # noqa: F401  (disclosures: the accounting of disclosures)
        audit_export,  # noqa: F401  (export: FHIR AuditEvents)
        audit_log,  # noqa: F401  (verify, checkpoint, rotate-key)
    )

    main.add_command(audit_group)
