"""Every group in every output names its people: each query selects exactly its ``n`` rows.

Run as a user would: the bundled bleeding example (it has harmed groups, a harm-search region and a
safer alternative rule), the outputs read back from disk, each query run with pandas on the table
the report says it selects from (the input's data sheet, or individuals.csv for risk strata).
"""

import json

import pandas as pd
import pytest

from targeting.cli import main
from targeting.errors import EXIT_OK


@pytest.fixture(scope="module")
def outputs(bleeding_example, tmp_path_factory):
    outdir = tmp_path_factory.mktemp("queries") / "out"
    assert main(["report", str(bleeding_example), "-o", str(outdir), "--quiet"]) == EXIT_OK
    report = json.loads((outdir / "report.json").read_text(encoding="utf-8"))
    data = pd.read_excel(bleeding_example, sheet_name="data", engine="calamine")
    individuals = pd.read_csv(outdir / "individuals.csv")
    return report, {"input": data, "individuals": individuals}


def test_the_example_has_every_family_and_a_safer_rule(outputs):
    report, _ = outputs
    families = {s["family"] for s in report["subgroups"]}
    assert families == {"prespecified", "covariate", "policy_leaf", "baseline_risk", "harm_search"}
    assert report["policy"]["safer"] is not None


def test_every_subgroup_query_selects_its_n(outputs):
    report, tables = outputs
    for group in report["subgroups"]:
        selected = tables[group["query_on"]].query(group["query"])
        assert len(selected) == group["n"], (group["family"], group["name"], group["query"])
        assert group["n_estimated"] <= group["n"]


def test_every_rule_query_selects_its_n_and_the_people_it_treats(outputs):
    report, tables = outputs
    data, individuals = tables["input"], tables["individuals"]
    policy = report["policy"]
    for rules in (policy["rules"], policy["safer"]["rules"]):
        assert sum(rule["n"] for rule in rules) == len(data)
        for rule in rules:
            assert len(data.query(rule["query"])) == rule["n"], rule["query"]
    for rule in policy["rules"]:
        rows = data.query(rule["query"]).index
        assert (individuals.loc[rows, "treat"] == int(rule["treat"])).all()
    assert sum(rule["n"] for rule in policy["rules"] if rule["treat"]) == policy["treated_n"]


def test_every_risk_stratum_query_selects_its_n(outputs):
    report, tables = outputs
    for stratum in report["risk_strata"]:
        assert len(tables["individuals"].query(stratum["query"])) == stratum["n"], stratum["name"]
