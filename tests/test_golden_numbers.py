"""The bundled examples' numbers stay what they were when a change is meant to move code, not results.

The golden files hold every number of the report's statistical sections, as computed before the
package was reorganised. A change that is meant to alter results (another issue's fix) regenerates
them with ``python tests/test_golden_numbers.py`` and says so in its commit.
"""

import json
import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "data" / "golden"
EXAMPLES = ("bleeding_trial", "financial_literacy", "cate_lesson")
SECTIONS = ("policy", "values", "comparisons", "budget_curve", "subgroups", "risk_strata", "diagnostics", "data")


def numbers(node, prefix: str = "") -> dict[str, float]:
    """Every number in a nested report dict, keyed by its path (``values/targeted/ci_low``)."""
    out: dict[str, float] = {}
    if isinstance(node, dict):
        for key, value in node.items():
            out.update(numbers(value, f"{prefix}/{key}"))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out.update(numbers(value, f"{prefix}/{index}"))
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        out[prefix] = node
    return out


def report_numbers(name: str) -> dict[str, float]:
    from targeting.config import merge_sources
    from targeting.data.read import read_input
    from targeting.pipeline import run

    raw = read_input(ROOT / "examples" / f"{name}.xlsx")
    config = merge_sources(("defaults", {}), ("the workbook's config sheet", raw.sheet_config))
    report = run(raw, config).report.to_dict()
    found: dict[str, float] = {}
    for section in SECTIONS:
        found.update(numbers(report[section], section))
    return found


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_numbers_unchanged(name):
    expected = json.loads((GOLDEN / f"{name}.json").read_text())
    found = report_numbers(name)
    assert sorted(found) == sorted(expected), "the report's numeric fields changed"
    moved = {key: (expected[key], found[key]) for key in expected
             if not math.isclose(found[key], expected[key], rel_tol=1e-7, abs_tol=1e-10)}
    assert not moved, f"{len(moved)} numbers moved, e.g. {list(moved.items())[:5]}"


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    for example in EXAMPLES:
        (GOLDEN / f"{example}.json").write_text(json.dumps(report_numbers(example), indent=0, sort_keys=True))
        print("wrote", GOLDEN / f"{example}.json")
