"""The closed vocabulary a partner names its role and purpose from.

A role or purpose outside ``consent_policies/vocabulary.yaml`` is refused before anything is
looked up, naming the parameter and the allowed terms. So the answer to a mistyped term never
depends on whether the student exists, and only vocabulary codes reach the audit trail.
"""

from __future__ import annotations

from gateway.artifacts import Vocabulary
from gateway.errors import Issue


def term_issues(vocabulary: Vocabulary, *, role: str, purpose: str) -> list[Issue]:
    """One issue per given term that is not in the vocabulary (missing ones are the caller's to report)."""
    allowed = {"role": vocabulary.roles, "purpose": vocabulary.purposes}
    given = {"role": role, "purpose": purpose}
    # The given value is not repeated: it is the caller's own text, and errors may be logged.
    return [
        Issue(path=name, message=f"not a known {name}; use one of: {', '.join(sorted(allowed[name]))}")
        for name, value in given.items()
        if value and value not in allowed[name]
    ]
