"""Where staged payloads live: small ones in the message row, bulk ones as files.

A payload over ``Settings.payload_file_threshold`` (or any file staged from disk) is kept as a
content-addressed file ``$GATEWAY_HOME/payloads/<sha256 hex>``; the message row names the file
and keeps its digest and size. The bytes then never need to be in Python memory at once: the
pipeline streams them from the file, on first processing and on every replay. Two messages with
the same bytes share one file (its name is its digest), and a file that no longer matches its
digest is refused rather than processed.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

from gateway.errors import InputInvalid, Issue, PayloadTooLarge
from gateway.service.runtime import Runtime

_CHUNK = 1024 * 1024


def payload_dir(rt: Runtime) -> Path:
    return rt.settings.home / "payloads"


def file_for(rt: Runtime, name: str) -> Path:
    return payload_dir(rt) / name


def store_bytes(rt: Runtime, payload: bytes) -> str:
    """Keep ``payload`` as a content-addressed file; return the file name (its sha256 hex)."""
    name = hashlib.sha256(payload).hexdigest()
    target = file_for(rt, name)
    if not target.exists():
        _write_atomically(rt, target, lambda out: out.write(payload))
    return name


def store_file(rt: Runtime, source: Path) -> tuple[str, int]:
    """Copy ``source`` into the payload store while hashing it; (file name, size).

    The copy is what is processed and replayed, so later changes to ``source`` cannot alter
    what the message says it received. Over the bulk limit the copy is abandoned unkept.
    """
    limit = rt.settings.max_bulk_payload_bytes
    hasher = hashlib.sha256()
    size = 0
    payload_dir(rt).mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=payload_dir(rt), prefix=".incoming-", delete=False) as out:
        try:
            with source.open("rb") as stream:
                while chunk := stream.read(_CHUNK):
                    size += len(chunk)
                    if size > limit:
                        raise PayloadTooLarge(
                            f"bulk file exceeds the {limit}-byte bulk limit",
                            [
                                Issue(
                                    path=str(source.name),
                                    message="split the file, or raise GATEWAY_MAX_BULK_PAYLOAD_BYTES",
                                )
                            ],
                        )
                    hasher.update(chunk)
                    out.write(chunk)
        except BaseException:
            out.close()
            os.unlink(out.name)
            raise
    name = hasher.hexdigest()
    target = file_for(rt, name)
    if target.exists():
        os.unlink(out.name)
    else:
        os.replace(out.name, target)
    return name, size


def _write_atomically(rt: Runtime, target: Path, write: object) -> None:
    payload_dir(rt).mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=payload_dir(rt), prefix=".incoming-", delete=False) as out:
        write(out)  # type: ignore[operator]
    os.replace(out.name, target)


def open_payload(rt: Runtime, payload: bytes, payload_file: str | None, digest: str) -> BinaryIO:
    """The staged bytes as a stream; a stored file is checked against its digest first."""
    if payload_file is None:
        return io.BytesIO(payload)
    path = file_for(rt, payload_file)
    if not path.is_file():
        raise InputInvalid(
            "the staged payload file is missing",
            [Issue(path=f"payloads/{payload_file}", message="restore it from backup, then replay")],
        )
    hasher = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            hasher.update(chunk)
    if "sha256:" + hasher.hexdigest() != digest:
        raise InputInvalid(
            "the staged payload file does not match its digest",
            [Issue(path=f"payloads/{payload_file}", message="the file was altered; restore it, then replay")],
        )
    return path.open("rb")
