"""Starting a parser or validation process without running the program's main module again.

multiprocessing's forkserver (and spawn) children import the program's main module again, for any
functions it may define: about 2 s for ``spgw`` or a benchmark, paid by every child. The gateway's
children run only functions of this package, so they are started with an empty main module.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import types
from collections.abc import Iterator

# Two threads starting children at once must not restore each other's stand-in.
_SWAP = threading.Lock()


@contextlib.contextmanager
def main_module_left_out() -> Iterator[None]:
    """Children started inside this block do not import the program's main module."""
    with _SWAP:
        main = sys.modules.get("__main__")
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            yield
        finally:
            if main is not None:
                sys.modules["__main__"] = main
            else:  # an embedding interpreter with no main module: none is left behind either
                sys.modules.pop("__main__", None)
