"""Registers every wire format beyond the first two. One line per format module; each module
owns its parser. Imported by ``gateway.formats`` once the registry functions exist."""

from __future__ import annotations
