"""The JSON Schema of ``report.json``, derived from the ReportModel's dataclasses.

The schema is shipped beside this module (``report.schema.json``) so that readers of report.json
need not import the package; a test checks that the shipped file equals the derived one and that
every report the test suite writes validates against it.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from importlib import resources
from typing import Any, Union

from targeting.model.report import SCHEMA_VERSION, ReportModel
from targeting.model.typed import field_types

SCHEMA_FILE = "report.schema.json"
_PRIMITIVES = {str: {"type": "string"}, bool: {"type": "boolean"}, int: {"type": "integer"},
               float: {"type": ["number", "null"]}}  # non-finite floats are written as null


def report_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``ReportModel.to_dict()``."""
    definitions: dict[str, Any] = {}
    _schema_of(ReportModel, definitions)
    root = definitions.pop("ReportModel")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": f"targeting report.json, schema version {SCHEMA_VERSION}", **root, "$defs": definitions}


def shipped_schema() -> dict[str, Any]:
    """The schema file shipped in the package."""
    return json.loads(resources.files("targeting.model").joinpath(SCHEMA_FILE).read_text(encoding="utf-8"))


def _schema_of(kind: Any, definitions: dict[str, Any]) -> dict[str, Any]:
    origin = typing.get_origin(kind)
    if kind is Any:
        return {}
    if origin in (Union, types.UnionType):
        options = [option for option in typing.get_args(kind) if option is not type(None)]
        inner = [_schema_of(option, definitions) for option in options]
        return {"anyOf": [*inner, {"type": "null"}]}
    if dataclasses.is_dataclass(kind):
        name = kind.__name__
        if name not in definitions:
            definitions[name] = {}  # placeholder: parts may refer to themselves
            hints = field_types(kind)
            definitions[name] = {
                "type": "object",
                "description": (kind.__doc__ or name).strip().splitlines()[0],
                "properties": {f.name: _schema_of(hints[f.name], definitions) for f in dataclasses.fields(kind)},
                "required": [f.name for f in dataclasses.fields(kind)],
                "additionalProperties": False,
            }
        return {"$ref": f"#/$defs/{name}"}
    if origin is list:
        (item,) = typing.get_args(kind)
        return {"type": "array", "items": _schema_of(item, definitions)}
    if origin is dict:
        _, item = typing.get_args(kind)
        return {"type": "object", "additionalProperties": _schema_of(item, definitions)}
    return dict(_PRIMITIVES[kind])


if __name__ == "__main__":  # regenerate the shipped file: python -m targeting.model.schema
    path = resources.files("targeting.model").joinpath(SCHEMA_FILE)
    with resources.as_file(path) as target:
        target.write_text(json.dumps(report_schema(), indent=1) + "\n", encoding="utf-8")
    print("wrote", SCHEMA_FILE)
