"""Labels every plan element carries: legal regime, sensitivity and data category.

A derived element inherits the most restrictive label of its sources (``combine``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# Ordered from least to most restrictive handling. FERPA and HIPAA are distinct regimes;
# when both feed one element the HIPAA handling (consent or treatment basis) is the stricter.
REGIMES: tuple[str, ...] = ("not-covered", "FERPA", "HIPAA", "42CFRPart2")
# HL7 v3 Confidentiality: N normal, R restricted, V very restricted.
SENSITIVITIES: tuple[str, ...] = ("normal", "restricted", "very-restricted")

DOMAINS: tuple[str, ...] = (
    "academic",
    "attendanceEngagement",
    "socialEmotionalBehavioral",
    "physicalMentalHealth",
    "familyBasicNeeds",
    "enrichmentInterests",
)


@dataclass(frozen=True, kw_only=True)
class Labels:
    regime: str
    sensitivity: str
    category: str

    def to_dict(self) -> dict[str, str]:
        return {
            "regime": self.regime,
            "sensitivity": self.sensitivity,
            "category": self.category,
        }


def combine(labels: Iterable[Labels], category: str) -> Labels:
    """The most restrictive regime and sensitivity of ``labels``, filed under ``category``."""
    items = list(labels)
    if not items:
        raise ValueError("combine() needs at least one label")
    for item in items:
        if item.regime not in REGIMES or item.sensitivity not in SENSITIVITIES:
            raise ValueError(
                f"unknown label {item.regime!r}/{item.sensitivity!r}; regimes: {', '.join(REGIMES)}; "
                f"sensitivities: {', '.join(SENSITIVITIES)}"
            )
    regime = max((item.regime for item in items), key=REGIMES.index)
    sensitivity = max((item.sensitivity for item in items), key=SENSITIVITIES.index)
    return Labels(regime=regime, sensitivity=sensitivity, category=category)
