"""The PDF brief: sections present, headline numbers as formatted, harm box, and no injection.

Rendering takes a few seconds, so each report is rendered once per module and shared.
"""

from __future__ import annotations

import copy
import io
import json
import re
from pathlib import Path

import pytest
from pypdf import PdfReader

from targeting.format import fmt_effect, fmt_num, fmt_pct
from targeting.report.pdf import TemplateOnlyFetcher, render_brief, render_html

DATA = Path(__file__).parent / "data"
SCRIPT = "<script>alert(1)</script>"
IMG = '<img src="file:///etc/passwd">'


def _text(pdf: bytes) -> tuple[str, int]:
    reader = PdfReader(io.BytesIO(pdf))
    text = "\n".join(page.extract_text() or "" for page in reader.pages)
    return text, len(reader.pages)


def _flat(text: str) -> str:
    """Whitespace-insensitive form of extracted text (line breaks fall anywhere)."""
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="module")
def report() -> dict:
    return json.loads((DATA / "report_bleeding.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def rendered(report) -> tuple[str, int, TemplateOnlyFetcher, bytes]:
    fetcher = TemplateOnlyFetcher()
    pdf = render_brief(report, url_fetcher=fetcher)
    text, pages = _text(pdf)
    return text, pages, fetcher, pdf


@pytest.fixture(scope="module")
def harmed_report(report) -> dict:
    """The sample with one subgroup flagged harmed (and a hostile name on another)."""
    r = copy.deepcopy(report)
    victim = r["subgroups"][2]
    victim.update(flag="harmed", name="anticoagulant users over 70", effect=0.081, ci_low=0.031,
                  ci_high=0.131, p_adjusted=0.004)
    r["harm_summary"]["harmed"] = [victim["name"]]
    return r


@pytest.fixture(scope="module")
def hostile_report(report) -> dict:
    """Input text that looks like markup: a subgroup name, a rule, a covariate and the file name."""
    r = copy.deepcopy(report)
    r["subgroups"][0]["name"] = f"age {SCRIPT} {IMG}"
    r["subgroups"][0]["flag"] = "harmed"
    r["policy"]["headline_rule"] = f"Treat if {IMG} and {SCRIPT}"
    r["policy"]["tree"]["feature"] = IMG
    r["data"]["covariates"][0]["name"] = IMG
    r["provenance"]["input_file"] = f"{IMG}.csv"
    return r


def test_pdf_is_a_pdf_with_sensible_length(rendered):
    _, pages, _, pdf = rendered
    assert pdf.startswith(b"%PDF")
    assert 3 <= pages <= 10


def test_sections_present(rendered):
    text, *_ = rendered
    for heading in ["Recommendation", "Headline numbers", "HARM", "The rule as a decision tree",
                    "How the gain depends on the budget", "Distribution of individual effects",
                    "Effects in groups of people", "Effect by baseline risk", "Diagnostics",
                    "Findings", "Methods and assumptions", "Data", "Provenance", "Settings"]:
        assert heading in text, heading


def test_running_header_and_page_numbers(rendered, report):
    text, pages, *_ = rendered
    assert text.count(report["provenance"]["input_file"]) >= pages
    assert f"page 1 of {pages}" in text
    assert f"page {pages} of {pages}" in text


def test_headline_numbers_appear_as_formatted(rendered, report):
    flat = _flat(rendered[0])
    for key in ["targeted", "treat_all", "random_at_budget", "treat_none"]:
        value = report["values"][key]
        assert _flat(value["label"]) in flat
        for number in (value["mean_outcome"], value["ci_low"], value["ci_high"]):
            assert fmt_num(number) in flat, (key, number)
        assert fmt_pct(value["treated_share"], 0) in flat
    for key in ["treat_all", "random_at_budget", "treat_none"]:
        comp = report["comparisons"][key]
        for number in (comp["difference"], comp["ci_low"], comp["ci_high"], comp["per_1000"],
                       comp["per_1000_low"], comp["per_1000_high"]):
            assert fmt_effect(number) in flat, (key, number)


def test_summary_provenance_and_truth(rendered, report):
    flat = _flat(rendered[0])
    for sentence in report["summary"]:
        assert _flat(sentence) in flat
    assert report["provenance"]["input_sha256"] in flat
    assert str(report["provenance"]["seed"]) in flat
    assert report["diagnostics"]["truth"] is not None
    assert _flat("Accuracy against the known true effects") in flat


def test_harm_box_says_none_found_with_count(rendered, report):
    text, *_ = rendered
    assert report["harm_summary"]["harmed"] == []
    assert f"No group was found to be harmed ({report['harm_summary']['groups_tested']} groups tested)" in text
    assert _flat(report["harm_summary"]["method"]) in _flat(text)


def test_harm_box_lists_harmed_groups(harmed_report):
    text, pages = _text(render_brief(harmed_report))
    first_page = text.split("page 1 of")[0]
    assert "1 group harmed by the treatment" in first_page
    assert "anticoagulant users over 70" in first_page
    assert fmt_effect(0.081) in first_page and fmt_effect(0.031) in first_page
    tested = harmed_report["harm_summary"]["groups_tested"]
    assert f"No group was found to be harmed ({tested} groups tested)" not in first_page
    assert f"(out of {tested} groups tested)" in first_page
    assert "HARMED" in text  # the subgroup table's verdict
    assert 3 <= pages <= 10


def test_missing_numbers_render_as_dash(report):
    r = copy.deepcopy(report)
    leaf = r["policy"]["tree"]["left"]["left"]
    leaf.update(effect=None, ci_low=None, ci_high=None)
    r["subgroups"][0].update(effect=None, ci_low=None, ci_high=None)
    html = render_html(r)
    assert "–" in html
    assert "None" not in re.sub(r"<[^>]+>", "", html)


def test_injection_is_rendered_as_literal_text(hostile_report):
    html = render_html(hostile_report)
    assert "<script>" not in html
    assert '<img src="file:///etc/passwd">' not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html

    fetcher = TemplateOnlyFetcher()
    text, _ = _text(render_brief(hostile_report, url_fetcher=fetcher))
    flat = _flat(text)
    assert _flat(SCRIPT) in flat
    assert _flat(IMG) in flat
    assert not any("passwd" in url for url in fetcher.requested)
    assert all(url.startswith("data:") for url in fetcher.requested)


def test_fetcher_refuses_everything_but_data_and_templates(tmp_path):
    fetcher = TemplateOnlyFetcher()
    for url in ["file:///etc/passwd", "https://example.com/x.png", "http://127.0.0.1/",
                "ftp://example.com/f", (fetcher.root / ".." / "pyproject.toml").as_uri()]:
        assert not fetcher.allowed(url), url
        with pytest.raises(ValueError):
            fetcher.fetch(url)
    assert fetcher.allowed((fetcher.root / "brief.css").as_uri())
    assert fetcher.allowed("data:text/plain,hello")
    assert fetcher.refused == fetcher.requested


def test_higher_is_better_and_no_split_tree(report):
    """The other orientation, and a tree that is a single leaf (treat everyone)."""
    r = copy.deepcopy(report)
    r["data"]["direction"] = "higher-is-better"
    r["policy"]["tree"] = {"leaf": "root", "treat": True, "n": 2000, "effect": 0.0172,
                           "ci_low": -0.0047, "ci_high": 0.039, "rule": "everyone"}
    text, pages = _text(render_brief(r))
    assert 3 <= pages <= 10
    assert "higher is better" in text
