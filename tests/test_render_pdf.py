"""The PDF brief: sections present, headline numbers as formatted, harm box, and no injection.

Rendering takes a few seconds, so each report is rendered once per module and shared.
"""

from __future__ import annotations

import copy
import io
import json
import re
from pathlib import Path

import jinja2
import pytest
from pypdf import PdfReader

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
    pages = text.split("Decision support — read with")
    assert "Headline numbers" in pages[0] and "HARM" in pages[0]
    assert "as a decision tree" in pages[1] and "How the gain depends on the budget" in pages[1]
    assert "Appendix" in pages[2]
    for heading in ["A. Effects in groups of people", "B. How the effect varies between people",
                    "By the outcome predicted without treatment", "C. Checks of the estimates",
                    "D. Findings, methods and assumptions", "Methods and assumptions", "E. Data",
                    "F. Provenance and settings", "Settings in effect"]:
        assert heading in text, heading


def test_running_header_and_page_numbers(rendered, report):
    text, pages, *_ = rendered
    assert text.count(report["provenance"]["input_file"]) >= pages
    assert f"page 1 of {pages}" in text
    assert f"page {pages} of {pages}" in text


#: The headline table of the test report (a 0/1 outcome), written out by hand: policy, share treated,
#: share with the event (interval), and the rule's advantage in percentage points and in events per
#: 1,000 people (intervals): 0.0733 -> 7.3%, +0.0172 -> +1.7 pp and +17 per 1,000.
HEADLINE_ROWS = [
    ("Targeted (policy tree)", "42%", "5.6% (4.2% to 7.0%)", "(the rule itself)"),
    ("Treat everyone", "100%", "7.3% (5.7% to 9.0%)", "+1.7 pp (+0.016 to +3.4 pp)", "+17 (+0.16 to +34)"),
    ("Random selection, same budget", "42%", "6.3% (5.2% to 7.4%)", "+0.72 pp (-0.35 to +1.8 pp)",
     "+7.2 (-3.5 to +18)"),
    ("Treat no one", "0%", "5.6% (4.2% to 7.1%)", "-0.00050 pp (-1.4 to +1.4 pp)", "-0.0050 (-14 to +14)"),
    ("Best ranking by estimated effect, same budget (reference: not a readable rule)", "44%",
     "4.4% (3.2% to 5.7%)", "-1.2 pp (-2.4 to +0.070 pp)", "-12 (-24 to +0.70)"),
]


def _table_rows(html: str, table_class: str) -> list[tuple[str, ...]]:
    """The body rows of the first table of ``table_class`` as tuples of cell texts."""
    table = re.search(rf'<table class="{table_class}[^"]*">(.*?)</table>', html, re.S).group(1)
    body = table[table.index("<tbody>"):]
    rows = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        rows.append(tuple(" ".join(re.sub(r"<[^>]+>", " ", c).split()) for c in cells))
    return rows


def test_headline_table_shows_the_written_out_numbers(report):
    assert _table_rows(render_html(report), "headline") == HEADLINE_ROWS


def test_headline_numbers_reach_the_pdf(rendered):
    flat = _flat(rendered[0])
    for row in HEADLINE_ROWS:
        for cell in row:
            for piece in re.split(r" (?=\()", cell):  # a number and its interval are on two lines
                assert _flat(piece) in flat, piece


def test_summary_provenance_and_truth(rendered, report):
    flat = _flat(rendered[0])
    for sentence in report["summary"]:
        assert _flat(sentence) in flat
    assert report["provenance"]["input_sha256"] in flat
    assert str(report["provenance"]["seed"]) in flat
    assert report["diagnostics"]["truth"] is not None
    assert _flat("Accuracy against the known true effects") in flat
    assert _flat(f"random seed {report['provenance']['seed']}") in flat


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
    assert "+8.1 pp" in first_page and "+3.1 to +13.1 pp" in first_page
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


@pytest.mark.parametrize("path", [
    ("data", "direction"), ("data", "treated_label"), ("data", "covariates", 0, "levels"),
    ("values", "ranking"), ("values", "targeted", "treated_share"), ("comparisons", "treat_all"),
    ("config", "harm_threshold"), ("harm_summary", "family_labels"), ("budget_curve", 0, "tree_gain"),
    ("policy", "tree", "left_if"), ("policy", "tree", "left", "left", "n"), ("subgroups", 0, "flag"),
    ("subgroups", 0, "p_value"), ("risk_strata",), ("diagnostics", "overlap", "bounds"),
    ("diagnostics", "cate_summary", "edges"), ("diagnostics", "balance", 0, "imbalanced"),
    ("diagnostics", "truth"), ("provenance", "data_sheet"),
])
def test_a_missing_required_key_fails_loudly(report, path):
    """Keys the report always has are read strictly: without one the brief is not rendered blank."""
    r = copy.deepcopy(report)
    parent = r
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    with pytest.raises((KeyError, jinja2.UndefinedError)):
        render_html(r)


def test_a_group_shown_without_its_exploratory_mark_fails_loudly(report):
    r = copy.deepcopy(report)
    for group in r["subgroups"]:
        del group["exploratory"]
    with pytest.raises((KeyError, jinja2.UndefinedError)):
        render_html(r)


def test_balance_marks_the_rows_the_report_calls_imbalanced(report):
    """The template shows the report's verdict and does not judge the difference itself."""
    r = copy.deepcopy(report)
    first, second = r["diagnostics"]["balance"][:2]
    first.update(smd=0.5, imbalanced=False)
    second.update(smd=0.01, imbalanced=True)
    html = render_html(r)
    marked = re.findall(r'<td class="num warn">([^<]*)</td>', html)
    assert marked == ["+0.010"]


def test_the_brief_says_when_the_candidates_were_scored_on_a_sample_and_who_judges(report):
    everyone = render_html(report)
    assert "were fitted and compared on a random" not in everyone
    assert "those of these tests and of the table below are widened by 1.4" in everyone
    sampled = copy.deepcopy(report)
    n = sampled["data"]["n"]
    for score in sampled["diagnostics"]["estimator_scores"]:
        score["scored_on"] = n // 4
    sampled["diagnostics"]["heterogeneity_se_factor"] = 1.0
    html = render_html(sampled)
    assert f"fitted and compared on a random {n // 4:,} of the {n:,} people" in html
    assert f"use only those {n - n // 4:,} others" in html
    assert "use only people whose outcomes no effect model saw" in html and "widened by" not in html
