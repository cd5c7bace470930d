"""Another revision of the gateway, measured in the same run: a ``git worktree`` under /tmp.

``bench --baseline-ref REV`` runs each landing case twice, here and in a worktree of REV, with the
same venv: the worktree's folder goes first on ``PYTHONPATH``, so ``import gateway`` (and its
bundled mappings, schemas and policies) is REV's, while the landing runners are this checkout's
(copied into the worktree, which may predate them). The worktree's ``benchmarks/out`` is a link to
this one's, so both revisions read the same workload bytes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
LANDING = Path(__file__).resolve().parent


def _git(*args: str, cwd: Path = PROJECT_ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def resolve(rev: str) -> str:
    return _git("rev-parse", "--verify", f"{rev}^{{commit}}")


def worktree(rev: str) -> Path:
    """The worktree of ``rev`` (made once, then reused), with this checkout's landing runners."""
    commit = resolve(rev)
    path = Path(tempfile.gettempdir()) / f"spgw-baseline-{commit[:7]}"
    if not path.exists():
        _git("worktree", "add", "--detach", str(path), commit)
    elif _git("rev-parse", "HEAD", cwd=path) != commit:
        raise RuntimeError(f"{path} is not at {commit[:7]}; remove it (git worktree remove {path})")
    shutil.copytree(
        LANDING,
        path / "benchmarks" / "landing",
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    out = path / "benchmarks" / "out"
    if not out.exists():
        (PROJECT_ROOT / "benchmarks" / "out").mkdir(parents=True, exist_ok=True)
        out.symlink_to(PROJECT_ROOT / "benchmarks" / "out")
    return path


def environment(path: Path) -> dict[str, str]:
    shared = os.environ.get("BENCH_SHARED", str(PROJECT_ROOT.parent / "shared"))
    return {"PYTHONPATH": str(path), "BENCH_SHARED": shared}
