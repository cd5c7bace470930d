"""Plan documents as a batch holds them: their JSON text, decoded where one is read.

A batch of attendance can touch thousands of students, and a decoded plan takes about three times
the memory of its text. Holding the text (as stored, or as written once merged) bounds a batch to a
few KB per student; each plan is decoded when the batch reads it and encoded once it is settled,
which is the work the database column did anyway.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import orjson


def encode_plan(document: Mapping[str, Any]) -> str:
    """The JSON text of a plan, as the database column writes it (orjson). A ``str``, not
    orjson's ``bytes``: those keep the buffer orjson grew them in (a 6 KB plan held 32 KB),
    while decoding makes an object of the text's own size."""
    return orjson.dumps(document).decode("utf-8")


def decode_plan(text: str) -> dict[str, Any]:
    decoded = orjson.loads(text)
    if not isinstance(decoded, dict):
        raise ValueError("a stored plan is not a JSON object")
    return decoded


class PlanTexts(Mapping[str, Mapping[str, Any]]):
    """student id -> plan document, kept as JSON text and decoded afresh on each read, so a
    reader may change what it gets without touching what is held."""

    __slots__ = ("_texts",)

    def __init__(self, texts: Mapping[str, str]) -> None:
        self._texts = dict(texts)

    def __getitem__(self, student_id: str) -> dict[str, Any]:
        return decode_plan(self._texts[student_id])

    def __contains__(self, student_id: object) -> bool:
        return student_id in self._texts

    def __iter__(self) -> Iterator[str]:
        return iter(self._texts)

    def __len__(self) -> int:
        return len(self._texts)

    def text_of(self, student_id: str) -> str:
        return self._texts[student_id]


def texts_of(documents: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Each document's JSON text: taken as held when ``documents`` holds text, else encoded."""
    if isinstance(documents, PlanTexts):
        return {student_id: documents.text_of(student_id) for student_id in documents}
    return {student_id: encode_plan(document) for student_id, document in documents.items()}
