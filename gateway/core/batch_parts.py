"""A batch that touches many students is settled in parts of at most so many students.

A batch holds, while it settles, the stored and the new plan of every student it touches; a file
of 5,000 attendance events of 5,000 students held 5,000 plans at once. Settled in parts, one after
the other in the batch's transaction, it holds one part's. Every record of a student falls in one
part: records are grouped by what joins them to a student (an identifier they share, or stored
links to one student), so each student is identified, merged and derived once per batch as
before, from the same records in the same order, and the batch's outcomes and writes are those of
settling it whole. Pure: the service loads each part's plans and events after writing the part
before; the links, read once for the batch, are each part's own (``links_within``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from gateway.core.batch import BatchResult, BatchWrites, Identifier, Prepared
from gateway.core.outcomes import RecordOutcome


def parts(prepared: Prepared, links: Mapping[Identifier, str], most_students: int) -> list[Prepared]:
    """``prepared`` in parts of at most ``most_students`` groups of records (a group is one
    student, or records that may become one), in the order each group first appears. The
    outcomes ``prepare`` already gave (records not mapped) go with the first part."""
    if len(prepared.mapped) <= most_students:  # a record names at most one student
        return [prepared]
    unnamed = sum(1 for item in prepared.mapped.values() if not item.result.subject)
    if len(prepared.identifiers()) + unnamed <= most_students:  # no more groups than that
        return [prepared]
    chunks: list[list[int]] = [[]]
    in_chunk = 0
    for members in _groups(prepared, links):
        if in_chunk == most_students:
            chunks.append([])
            in_chunk = 0
        chunks[-1].extend(members)
        in_chunk += 1
    return [
        Prepared(
            mapped={i: prepared.mapped[i] for i in sorted(chunk)},
            outcomes=dict(prepared.outcomes) if n == 0 else {},
        )
        for n, chunk in enumerate(chunks)
    ]


def links_within(part: Prepared, links: Mapping[Identifier, str]) -> dict[Identifier, str]:
    """The batch's stored links that name the part's identifiers. Read once for the whole batch:
    a part links only identifiers of its own records, which no other part's records carry (they
    would be in its groups), so what the batch read is what each part would read again."""
    return {identifier: links[identifier] for identifier in part.identifiers() if identifier in links}


def _groups(prepared: Prepared, links: Mapping[Identifier, str]) -> list[list[int]]:
    """The record indexes of each group, groups in the order their first record appears."""
    parent: dict[object, object] = {}

    def find(key: object) -> object:
        root = key
        while parent.setdefault(root, root) != root:
            root = parent[root]
        while key != root:  # path compression
            parent[key], key = root, parent[key]
        return root

    def union(one: object, other: object) -> None:
        parent[find(one)] = find(other)

    for index, item in prepared.mapped.items():
        keys: list[object] = [("record", index)]
        for identifier in item.result.subject:
            keys.append(identifier)
            if identifier in links:
                keys.append(("student", links[identifier]))
        for key in keys[1:]:
            union(keys[0], key)
    grouped: dict[object, list[int]] = {}
    for index in sorted(prepared.mapped):
        grouped.setdefault(find(("record", index)), []).append(index)
    return list(grouped.values())


def written(result: BatchResult) -> BatchResult:
    """A part's result once its writes are applied: without the plans and rows, which a batch
    must not hold past their part, keeping what the batch's audit reads."""
    writes = BatchWrites(
        derived_students=result.writes.derived_students, derived_changed=result.writes.derived_changed
    )
    return replace(result, writes=writes)


def combined(results: Iterable[BatchResult], prepared: Prepared) -> BatchResult:
    """One result of the parts' results, as settling the batch whole gives it."""
    by_index: dict[int, RecordOutcome] = {}
    derived: set[str] = set()
    changed = 0
    for result in results:
        by_index.update(result.by_index)
        derived.update(result.writes.derived_students)
        changed += result.writes.derived_changed
    writes = BatchWrites(derived_students=tuple(sorted(derived)), derived_changed=changed)
    ordered = tuple(by_index[i] for i in sorted(by_index))
    return BatchResult(outcomes=ordered, writes=writes, mapped=prepared.mapped, by_index=by_index)
