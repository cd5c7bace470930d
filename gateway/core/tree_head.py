"""Signed tree heads: 'the log had ``size`` entries, whose Merkle root is ``root``'.

The text form is a C2SP tlog-checkpoint inside a C2SP signed note, the format transparency-log
witnesses read: an origin line, the size, the base64 root, extension lines (the time, the chain
hash of the last entry, the key id), a blank line, then ``— <key name> <base64(key hash ||
signature)>``. The signature is over the note body (every line up to the blank one), so the JSON
form, which carries the same fields and signature, verifies with the same bytes.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

ORIGIN = "student-privacy-gateway/audit"
REASONS = ("entries", "minutes", "shutdown", "manual")
DASH = "\u2014"


class HeadFormatError(ValueError):
    """A kept head that is neither a signed note nor the JSON form of one."""


@dataclass(frozen=True, kw_only=True)
class TreeHead:
    size: int
    root: str  # sha256:<hex> of the RFC 6962 tree over entries 1..size
    hash: str  # the chain hash of entry ``size``
    time: str
    key_id: str
    signature: str = ""  # urlsafe base64 Ed25519 over ``body()``
    reason: str | None = None

    def body(self) -> str:
        root = base64.b64encode(bytes.fromhex(self.root.removeprefix("sha256:"))).decode("ascii")
        return f"{ORIGIN}\n{self.size}\n{root}\ntime {self.time}\nhead {self.hash}\nkey {self.key_id}\n"

    def note(self, key_hash: bytes) -> str:
        """The signed note; ``key_hash`` is the 4-byte id of the key in signed-note terms."""
        raw = base64.urlsafe_b64decode(self.signature.encode("ascii"))
        return f"{self.body()}\n{DASH} {self.key_id} {base64.b64encode(key_hash + raw).decode('ascii')}\n"

    def to_dict(self) -> dict[str, Any]:
        found = {
            "size": self.size,
            "root": self.root,
            "hash": self.hash,
            "time": self.time,
            "keyId": self.key_id,
            "signature": self.signature,
        }
        if self.reason is not None:
            found["reason"] = self.reason
        return found


def from_dict(doc: Mapping[str, Any]) -> TreeHead:
    try:
        return TreeHead(
            size=int(doc["size"]),
            root=str(doc["root"]),
            hash=str(doc["hash"]),
            time=str(doc["time"]),
            key_id=str(doc["keyId"]),
            signature=str(doc["signature"]),
            reason=doc.get("reason"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise HeadFormatError(f"not a signed tree head: {type(exc).__name__}") from None


def from_note(text: str) -> TreeHead:
    body, sep, rest = text.partition("\n\n")
    lines = body.split("\n")
    if not sep or len(lines) < 6 or lines[0] != ORIGIN:
        raise HeadFormatError("not a signed note of this log")
    try:
        size = int(lines[1])
        root = "sha256:" + base64.b64decode(lines[2], validate=True).hex()
        ext = dict(line.split(" ", 1) for line in lines[3:])
        sig_line = next(line for line in rest.split("\n") if line.startswith(DASH + " "))
        _, name, blob = sig_line.split(" ")
        raw = base64.b64decode(blob, validate=True)[4:]
        head = TreeHead(
            size=size,
            root=root,
            hash=ext["head"],
            time=ext["time"],
            key_id=ext["key"],
            signature=base64.urlsafe_b64encode(raw).decode("ascii"),
        )
    except (ValueError, KeyError, StopIteration) as exc:
        raise HeadFormatError(f"not a signed note: {type(exc).__name__}") from None
    if name != head.key_id:
        raise HeadFormatError("the note is signed under another name than its key line")
    return head


def parse_kept(text: str) -> list[TreeHead]:
    """Every head in a file of heads kept elsewhere: notes, JSON objects or a JSON list of them,
    in any mix (appended outputs of ``spgw audit checkpoint`` with or without ``--json``)."""
    heads = [from_note(part) for part in _notes(text)]
    heads.extend(from_dict(doc) for doc in _json_docs(text))
    if not heads and text.strip():
        raise HeadFormatError("no signed tree head found")
    return heads


def _notes(text: str) -> Iterator[str]:
    start = text.find(ORIGIN + "\n")
    while start != -1:
        end = text.find(DASH, start)
        if end == -1:
            raise HeadFormatError("a signed note without a signature line")
        line_end = text.find("\n", end)
        yield text[start : len(text) if line_end == -1 else line_end + 1]
        start = text.find(ORIGIN + "\n", end)


def _json_docs(text: str) -> Iterator[Mapping[str, Any]]:
    decoder, at = json.JSONDecoder(), 0
    # Objects are found wherever they start, so a JSON list of heads reads as its items.
    while (at := text.find("{", at)) != -1:
        if _inside_note(text, at):
            at += 1
            continue
        try:
            doc, end = decoder.raw_decode(text, at)
        except json.JSONDecodeError:
            raise HeadFormatError("a kept head is not valid JSON") from None
        if not isinstance(doc, dict):
            raise HeadFormatError("a kept head is not a JSON object")
        yield doc
        at = end


def _inside_note(text: str, at: int) -> bool:
    start = text.rfind(ORIGIN + "\n", 0, at)
    return start != -1 and text.find(DASH, start) > at
