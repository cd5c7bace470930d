"""``core.frozen.quick_init``: the same constructor as the dataclass's, the class still frozen."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from gateway.core.batch import Mapped
from gateway.core.frozen import quick_init
from gateway.core.identity import IdentityOutcome
from gateway.core.mapping_values import MappingContext, MappingResult, PlanElement, RuleTrace
from gateway.core.outcomes import RecordOutcome

QUICK = [Mapped, IdentityOutcome, MappingContext, MappingResult, PlanElement, RuleTrace, RecordOutcome]


@pytest.mark.parametrize("cls", QUICK)
def test_the_signature_is_the_dataclass_one(cls: type) -> None:
    generated = dataclasses.dataclass(frozen=True, kw_only=True)(
        type(cls.__name__, (), {"__annotations__": cls.__annotations__, **_defaults(cls)})
    )
    quick = inspect.signature(cls.__init__)
    assert [(p.name, p.kind, p.default is p.empty) for p in quick.parameters.values()] == [
        (p.name, p.kind, p.default is p.empty)
        for p in inspect.signature(generated.__init__).parameters.values()
    ]


def _defaults(cls: type) -> dict[str, object]:
    return {
        f.name: (f if f.default_factory is not dataclasses.MISSING else f.default)
        for f in dataclasses.fields(cls)
        if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
    }


@quick_init
@dataclasses.dataclass(frozen=True, kw_only=True)
class _Sample:
    name: str
    count: int = 0
    tags: dict[str, str] = dataclasses.field(default_factory=dict)


def test_instances_are_what_the_dataclass_makes() -> None:
    made = _Sample(name="a")
    assert (made.name, made.count, made.tags) == ("a", 0, {})
    assert made.tags is not _Sample(name="a").tags  # a fresh default each time
    assert made == _Sample(name="a", count=0)
    assert hash(_Sample(name="a", tags=None)) == hash(_Sample(name="a", tags=None))  # type: ignore[arg-type]
    assert repr(made) == "_Sample(name='a', count=0, tags={})"
    assert dataclasses.replace(made, count=2) == _Sample(name="a", count=2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.name = "b"  # type: ignore[misc]
    with pytest.raises(TypeError, match="missing 1 required keyword-only argument"):
        _Sample()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        _Sample(name="a", other=1)  # type: ignore[call-arg]


def test_a_class_it_cannot_serve_keeps_its_own_init() -> None:
    @dataclasses.dataclass(frozen=True)
    class Positional:
        name: str

    before = Positional.__init__
    assert quick_init(Positional).__init__ is before
