"""Rebuild typed report parts from plain data, strictly, following the dataclasses' type hints.

Used by :meth:`ReportModel.from_dict`. A missing required field raises ``KeyError`` and a value of
the wrong kind raises ``TypeError``, so a renamed key is caught where the report is read, not
turned into a blank cell.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Any, Union


@functools.cache
def field_types(cls: type) -> dict[str, Any]:
    """The resolved type hint of every field of dataclass ``cls``."""
    return typing.get_type_hints(cls)


def build(kind: Any, value: Any) -> Any:
    """``value`` (plain JSON data) converted to the type ``kind`` (a type hint)."""
    origin = typing.get_origin(kind)
    if kind is Any:
        return value
    if origin in (Union, types.UnionType):
        options = typing.get_args(kind)
        if value is None:
            if type(None) in options:
                return None
            raise TypeError(f"null where {kind} is required")
        real = [option for option in options if option is not type(None)]
        return build(real[0], value) if len(real) == 1 else value
    if value is None:
        # Non-finite floats are written as null (valid JSON); they come back as NaN.
        if kind is float:
            return float("nan")
        raise TypeError(f"null where {kind} is required")
    if dataclasses.is_dataclass(kind):
        if not isinstance(value, dict):
            raise TypeError(f"{kind.__name__} needs an object, got {type(value).__name__}")
        hints = field_types(kind)
        return kind(**{f.name: build(hints[f.name], value[f.name]) for f in dataclasses.fields(kind)})
    if origin is list:
        (item,) = typing.get_args(kind)
        return [build(item, v) for v in _expect(value, list)]
    if origin is dict:
        _, item = typing.get_args(kind)
        return {k: build(item, v) for k, v in _expect(value, dict).items()}
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"number expected, got {value!r}")
        return float(value)
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"integer expected, got {value!r}")
        return value
    return _expect(value, kind)


def _expect(value: Any, kind: type) -> Any:
    if not isinstance(value, kind):
        raise TypeError(f"{kind.__name__} expected, got {type(value).__name__}")
    return value
