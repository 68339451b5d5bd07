"""Building the typed config dataclasses (feature, model, training) from plain mappings."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Mapping, TypeVar

from sier.errors import SierError

T = TypeVar("T")


def from_mapping(cls: type[T], data: Any, error: type[SierError], name: str, hint: str) -> T:
    """`cls(**data)` for the config dataclass `cls`. A non-mapping or an unknown key raises
    `error` (a typo or a config from another sier version is never ignored silently);
    `name` says which config in the message, `hint` what to do about an unknown key."""
    if not isinstance(data, Mapping):
        raise error(f"{name} must be a mapping of field names, got {type(data).__name__}")
    unknown = sorted(set(data) - {f.name for f in fields(cls)})
    if unknown:
        raise error(f"unknown {name} key(s) {unknown}; {hint}")
    return cls(**dict(data))
