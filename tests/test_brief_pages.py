"""The brief of each bundled example, as printed: within its page target, no page left mostly blank,
numbers written for people (no scientific notation, percentages for an event), money with its
currency, bounded for wide data; and brief.html self-contained.

Each bundled example is analysed once per module (about 20 seconds each).
"""

from __future__ import annotations

import copy
import io
import json
import re
from pathlib import Path

import pytest
from pypdf import PdfReader

from targeting.config import merge_sources
from targeting.data.read import read_input
from targeting.format import fmt_effect, fmt_money, fmt_num, fmt_pp, fmt_rate
from targeting.report.html import render_standalone_html
from targeting.report.pdf import BRIEF_GROUPS, layout_brief, render_html

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
EXAMPLES = ("bleeding_trial", "financial_literacy", "cate_lesson")
PAGE_TARGET = 6
# a number written in scientific notation: 4.559e+04, 6.40E-05, 3e-9
# (not inside a hexadecimal hash such as the input's SHA-256)
SCIENTIFIC = re.compile(r"(?<![0-9a-fA-F])\d(?:\.\d+)?[eE][-+]?\d+(?![0-9a-fA-F])")
# content that fills a page: lines of text and pictures (not the blocks that hold them)
FILLING = ("LineBox", "InlineReplacedBox", "BlockReplacedBox")


def _example_report(name: str) -> dict:
    from targeting.pipeline import run

    raw = read_input(ROOT / "examples" / f"{name}.xlsx")
    config = merge_sources(("defaults", {}), ("the workbook's config sheet", raw.sheet_config))
    return run(raw, config).report.to_dict()


@pytest.fixture(scope="module", params=EXAMPLES)
def example(request) -> tuple[str, dict, object, str]:
    report = _example_report(request.param)
    document = layout_brief(report)
    pdf = document.write_pdf()
    pages = [page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages]
    return request.param, report, document, pages


def filled_share(page) -> float:
    """How far down its text area a laid-out page is filled (0 = empty, 1 = to the bottom margin)."""
    box = page._page_box  # WeasyPrint's page box: its content area is the text area
    top, height = box.content_box_y(), box.height
    lowest = top

    def walk(node):
        nonlocal lowest
        for child in getattr(node, "children", []):
            if type(child).__name__ == "MarginBox":  # running header and footer
                continue
            if type(child).__name__ in FILLING:
                lowest = max(lowest, child.position_y + child.height)
            walk(child)

    walk(box)
    return (lowest - top) / height


def test_the_brief_keeps_to_its_page_target(example):
    name, _, document, _ = example
    assert 3 <= len(document.pages) <= PAGE_TARGET, name


def test_no_page_is_left_mostly_blank_except_the_last(example):
    """Page 1 and page 2 decide and the appendix flows on: only the appendix's last page may be short."""
    name, _, document, _ = example
    shares = [filled_share(page) for page in document.pages]
    assert all(share >= 0.5 for share in shares[:-1]), (name, [round(s, 2) for s in shares])
    assert 0 < shares[-1] <= 1


def test_no_number_is_written_in_scientific_notation(example):
    name, _, _, pages = example
    for number, text in enumerate(pages, 1):
        assert not SCIENTIFIC.search(text), (name, number, SCIENTIFIC.search(text).group())


def test_the_two_deciding_pages_come_first(example):
    _, report, _, pages = example
    assert "Headline numbers" in pages[0] and "HARM" in pages[0]
    assert "as a decision tree" in pages[1] and "How the gain depends on the budget" in pages[1]
    assert "Appendix" in pages[2]
    status = {"recommended": "RECOMMENDED", "not_supported": "NOT RECOMMENDED",
              "safer_recommended": "SAFER RULE RECOMMENDED"}[report["recommendation"]["status"]]
    assert status in pages[0]


def test_an_event_outcome_reads_in_percentages_and_points(example):
    name, report, _, pages = example
    first = re.sub(r"\s+", " ", pages[0])
    targeted, everyone = report["values"]["targeted"], report["comparisons"]["treat_all"]
    if report["data"]["outcome_type"] != "binary":
        assert " pp" not in first and "percentage points" not in first
        return
    assert fmt_rate(targeted["mean_outcome"]) in first          # e.g. 6.0%
    assert fmt_pp(everyone["difference"]) in first              # e.g. +1.2 pp
    assert "events per 1,000 people" in first
    # and never as the raw decimals of report.json (0.0602, +0.0119)
    assert fmt_num(targeted["mean_outcome"]) not in first
    assert fmt_effect(everyone["difference"]) not in first


def test_a_decision_caveat_is_on_page_one(example):
    """An unstable first split changes how far the rule can be trusted: it is said beside the recommendation."""
    name, report, _, pages = example
    unstable = [f for f in report["findings"] if f["code"] == "unstable_tree"]
    assert bool(unstable) == ("Before you decide" in pages[0]), name
    if unstable:
        assert re.sub(r"\s+", "", unstable[0]["message"]) in re.sub(r"\s+", "", pages[0])


@pytest.fixture(scope="module")
def report() -> dict:
    return json.loads((DATA / "report_bleeding.json").read_text(encoding="utf-8"))


def _pdf_text(report: dict) -> str:
    pdf = layout_brief(report).write_pdf()
    return re.sub(r"\s+", " ", " ".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(pdf)).pages))


def test_money_carries_the_currency_when_one_is_set(report):
    r = copy.deepcopy(report)
    r["config"]["currency"] = "EUR"
    r["data"]["cost_source"] = "column 'cost'"
    r["policy"]["budget"].update(kind="money", value=300000.0, description="a total spend of 300,000")
    text = _pdf_text(r)
    assert "a total spend of €300,000" in text
    assert fmt_money(r["values"]["targeted"]["total_cost"], "EUR") in text
    assert fmt_money(r["data"]["total_cost"], "EUR") in text
    assert "300,000 " not in text.replace("€300,000", "")  # never the bare amount


def test_wide_data_gives_a_bounded_brief(report):
    """Hundreds of groups and covariates: the brief shows the most telling, the pack has all."""
    r = copy.deepcopy(report)
    base = r["subgroups"]
    r["subgroups"] = [dict(base[i % len(base)], name=f"{base[i % len(base)]['name']} #{i}") for i in range(600)]
    r["diagnostics"]["balance"] = r["diagnostics"]["balance"] * 25
    r["data"]["covariates"] = [dict(c, name=f"x{i}") for i, c in enumerate(r["data"]["covariates"] * 20)]
    html = render_html(r)
    shown = re.findall(r'<tr class="flag-', html)
    assert len(shown) == BRIEF_GROUPS
    assert f"The {BRIEF_GROUPS} most telling of the 600 groups" in html
    assert len(layout_brief(r).pages) <= PAGE_TARGET + 1


def test_brief_html_is_self_contained(report):
    html = render_standalone_html(report)
    assert "<style>" in html and "@page" in html and "@media screen" in html
    assert '"DejaVu Sans"' in html  # the stylesheet is written as is, not escaped
    assert not re.search(r'(?:src|href)="(?!data:)', html)  # nothing to fetch: every chart inline
    assert html.count('src="data:image/svg+xml;base64,') >= 4
