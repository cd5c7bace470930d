"""A faster ``__init__`` for the frozen dataclasses a batch makes per record.

A frozen dataclass's generated ``__init__`` sets each field through ``object.__setattr__`` (its
own ``__setattr__`` refuses), a call per field: two and a half times what a plain class costs.
``quick_init`` gives the class an ``__init__`` of the same signature and defaults that fills the
instance's dict directly; the class stays what it was (frozen: ``__setattr__`` still refuses,
same ``__eq__``, ``__hash__``, ``__repr__``). Only for plain cases: every field an init field
with no ``__post_init__``; anything else keeps the generated ``__init__``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")

_UNSET = object()


def quick_init(cls: type[T]) -> type[T]:
    params = getattr(cls, "__dataclass_params__", None)
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if (
        params is None
        or not params.frozen
        or hasattr(cls, "__post_init__")
        or hasattr(cls, "__slots__")
        or any(not f.init or not f.kw_only for f in fields)
    ):
        return cls
    names: dict[str, Any] = {"_UNSET": _UNSET}
    signature, body = [], []
    for f in fields:
        if f.default is not dataclasses.MISSING:
            names[f"_default_{f.name}"] = f.default
            signature.append(f"{f.name}=_default_{f.name}")
        elif f.default_factory is not dataclasses.MISSING:
            names[f"_factory_{f.name}"] = f.default_factory
            signature.append(f"{f.name}=_UNSET")
            body.append(f"    if {f.name} is _UNSET: {f.name} = _factory_{f.name}()")
        else:
            signature.append(f.name)
        body.append(f"    d[{f.name!r}] = {f.name}")
    source = f"def __init__(self, *, {', '.join(signature)}):\n    d = self.__dict__\n" + "\n".join(body)
    exec(source, names)  # built from the dataclass's own field names, as dataclasses does
    init = names["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    cls.__init__ = init  # type: ignore[method-assign]
    return cls
