"""The report contract: typed round trip, the shipped JSON Schema, strict reading."""

import copy
import json
from pathlib import Path

import jsonschema
import pytest

from targeting.model.report import ReportModel
from targeting.model.schema import report_schema, shipped_schema

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def lesson_report(lesson_csv):
    from targeting.config import merge_sources
    from targeting.data.read import read_input
    from targeting.pipeline import run

    config = merge_sources(("test", {"outcome": "y", "treatment": "treated", "propensity": 0.5, "estimator": "dr",
                                     "budget": "40%", "folds": 3, "true_effect": "true_effect"}))
    return run(read_input(lesson_csv), config).report


def test_shipped_schema_is_the_one_the_types_give():
    assert shipped_schema() == report_schema(), "regenerate it: python -m targeting.model.schema"


def test_round_trip_rebuilds_the_same_model(lesson_report):
    data = lesson_report.to_dict()
    again = ReportModel.from_dict(json.loads(json.dumps(data)))
    assert isinstance(again.diagnostics.calibration.detected, bool)
    assert again.to_dict() == data


def test_report_validates_and_a_broken_one_does_not(lesson_report):
    data = json.loads(lesson_report.to_json())
    jsonschema.validate(data, shipped_schema())
    broken = copy.deepcopy(data)
    del broken["diagnostics"]["calibration"]["slope"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, shipped_schema())
    renamed = copy.deepcopy(data)
    renamed["values"]["targeted"]["mean"] = renamed["values"]["targeted"].pop("mean_outcome")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(renamed, shipped_schema())
    with pytest.raises(KeyError):
        ReportModel.from_dict(broken)


def test_wrong_kind_of_value_is_refused(lesson_report):
    data = lesson_report.to_dict()
    data["policy"]["treated_n"] = "many"
    with pytest.raises(TypeError):
        ReportModel.from_dict(data)


def test_the_renderers_test_report_is_a_valid_report():
    data = json.loads((DATA / "report_bleeding.json").read_text(encoding="utf-8"))
    jsonschema.validate(data, shipped_schema())
    ReportModel.from_dict(data)
