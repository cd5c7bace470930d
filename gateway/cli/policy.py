"""`spgw` commands for policy (registered on the main group by gateway.cli)."""

from __future__ import annotations

import click


def register(main: click.Group) -> None:
    """Attach this module's command groups to ``main``."""
