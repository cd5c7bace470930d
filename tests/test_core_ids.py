"""``core.ids``: the base32 spelling of a derived id is RFC 4648's, lower case (ids are stored)."""

from __future__ import annotations

import base64
import hashlib
import random

from gateway.core.ids import _encoded, derive_id, id_deriver, student_id_for


def test_the_spelling_is_base32_of_the_digest() -> None:
    chance = random.Random(4648)
    digests = [bytes(32), b"\xff" * 32] + [chance.randbytes(32) for _ in range(20000)]
    for digest in digests:
        assert _encoded(digest) == base64.b32encode(digest[:20]).decode()[:26].lower()


def test_ids_are_what_they_were() -> None:
    assert (
        derive_id("el", "a", "b")
        == "el-" + base64.b32encode(hashlib.sha256(b"a\x1fb").digest()[:20]).decode()[:26].lower()
    )
    assert id_deriver("el", "m", "r")("x", "0") == derive_id("el", "m", "r", "x", "0")
    assert student_id_for("sys", "1") == derive_id("stu", "sys", "1")
