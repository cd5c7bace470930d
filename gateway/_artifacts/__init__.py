"""The artifacts the gateway ships with: mappings, schemas, consent policies and the demo world.

The folders here are links to the repository's top-level ``mappings/``, ``schemas/``,
``consent_policies/`` and ``demo/``, so a wheel carries them as package data and the code finds
them through ``importlib.resources`` wherever the package is installed.
"""

from __future__ import annotations

import functools
from importlib.resources import files
from pathlib import Path


@functools.cache
def bundled_root() -> Path:
    """The folder holding the packaged ``mappings/``, ``schemas/``, ``consent_policies/`` and ``demo/``."""
    found = files(__name__)
    # A package installed on a file system (wheel, sdist, editable) is a real folder; the loaders
    # need real paths (globbing, lxml's XSD includes), so a zipped install is refused plainly.
    if not isinstance(found, Path):
        raise RuntimeError(f"the gateway's artifacts must be installed as files, not inside {found!r}")
    return found
