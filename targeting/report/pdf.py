"""Render the PDF brief from the report model (the plain dict of ``report.json``).

One Jinja2 environment (autoescape, ``StrictUndefined``) renders ``templates/brief.html`` and its
partials; the charts come from :mod:`targeting.report.charts` as SVG and are embedded as ``data:`` URIs;
WeasyPrint turns the HTML into PDF. Nothing here computes a statistic: every number shown is read
from the report. WeasyPrint may fetch nothing but ``data:`` URIs and files inside the templates
folder (:class:`TemplateOnlyFetcher`), so text from the input can never pull in a local file or a
web address.
"""

from __future__ import annotations

import base64
import functools
import importlib.resources
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import jinja2
from weasyprint import CSS, HTML
from weasyprint.urls import URLFetcher

from targeting.format import (fmt_change, fmt_change_ci, fmt_ci, fmt_effect, fmt_int, fmt_level, fmt_money, fmt_num,
                              fmt_p, fmt_pct, fmt_per_1000, fmt_rate, fmt_value, p_text, plain_numbers, shorten,
                              shorten_words)
from targeting.model.narrative import (DECISION_CAVEATS, VERDICT_WORDS, arm_label, budget_words, expression_words,
                                       outcome_words, shown_flag)
from targeting.report import charts

__all__ = [
    "TemplateOnlyFetcher",
    "brief_charts",
    "layout_brief",
    "make_environment",
    "render_brief",
    "render_html",
    "stylesheet",
]

# ----------------------------------------------------------------------------------------------
# templates and fetching
# ----------------------------------------------------------------------------------------------

def _templates_root():
    """The templates folder inside the package (``targeting.report.templates``)."""
    return importlib.resources.files("targeting.report.templates")


def _templates_dir() -> Path | None:
    """The templates folder as a real directory, when it is one (not inside a zip)."""
    root = _templates_root()
    try:
        path = Path(str(root)).resolve()
    except (TypeError, ValueError):
        return None
    return path if (path / "brief.html").is_file() else None


def _load_template(name: str) -> str | None:
    if "/" in name or "\\" in name or name.startswith("."):
        return None
    item = _templates_root().joinpath(name)
    return item.read_text(encoding="utf-8") if item.is_file() else None


def make_environment() -> jinja2.Environment:
    """The one Jinja2 environment of the brief: autoescape, ``StrictUndefined``, formatters."""
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(_load_template),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    formatters = dict(fmt_pct=fmt_pct, fmt_effect=fmt_effect, fmt_money=fmt_money, fmt_num=fmt_num, fmt_p=fmt_p,
                      fmt_int=fmt_int, p_text=p_text, fmt_value=fmt_value, fmt_level=fmt_level, fmt_change=fmt_change,
                      fmt_per_1000=fmt_per_1000, fmt_rate=fmt_rate, plain_numbers=plain_numbers,
                      words=outcome_words, group_name=_group_name, shown_flag=shown_flag,
                      shorten=shorten, shorten_words=shorten_words)  # labels bounded in the brief only
    env.filters.update({name: _strict(f) for name, f in formatters.items()})
    env.globals.update(fmt_ci=_strict(fmt_ci), fmt_change_ci=_strict(fmt_change_ci))
    return env


def _group_name(group: Mapping[str, Any]) -> str:
    """A group's name as prose: a pre-specified group is named by its expression, said in words."""
    return expression_words(group["name"]) if group["family"] == "prespecified" else group["name"]


def _strict(formatter):
    """The formatter, refusing a value the report lacks: a formatter writes a dash for a missing
    number, which would hide a key missing from the report behind a plausible-looking dash."""

    @functools.wraps(formatter)
    def checked(*values, **options):
        for value in values:
            if isinstance(value, jinja2.Undefined):
                value._fail_with_undefined_error()
        return formatter(*values, **options)

    return checked


class TemplateOnlyFetcher(URLFetcher):
    """A WeasyPrint URL fetcher that refuses everything but ``data:`` URIs and template files.

    Parameters
    ----------
    root : Path, optional
        Folder whose files may be fetched; default the brief's templates folder.

    Attributes
    ----------
    requested : list of str
        Every URL WeasyPrint asked for, in order.
    refused : list of str
        The URLs that were refused.
    """

    def __init__(self, root: Path | None = None) -> None:
        super().__init__(allowed_protocols=("data", "file"), allow_redirects=False)
        self.root = root.resolve() if root is not None else _templates_dir()
        self.requested: list[str] = []
        self.refused: list[str] = []

    def allowed(self, url: str) -> bool:
        """Whether ``url`` is a ``data:`` URI or an existing file inside :attr:`root`."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme == "data":
            return True
        if scheme == "file" and self.root is not None and not parts.netloc:
            path = Path(url2pathname(unquote(parts.path))).resolve()
            return path.is_file() and path.is_relative_to(self.root)
        return False

    def fetch(self, url, headers=None):  # noqa: D102 - WeasyPrint's fetcher interface
        self.requested.append(url)
        if not self.allowed(url):
            self.refused.append(url)
            raise ValueError(f"refused to fetch {url[:80]!r}: the brief embeds only its own files")
        return super().fetch(url, headers)


def _svg_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


# ----------------------------------------------------------------------------------------------
# rendering
# ----------------------------------------------------------------------------------------------

# The brief shows this many groups and balance rows at most (the pack has all): a wide input must not
# turn the appendix into a listing.
BRIEF_GROUPS = 14
BRIEF_BALANCE = 10
BRIEF_COVARIATES = 24


def brief_subgroups(subgroups: list[Mapping[str, Any]], limit: int = BRIEF_GROUPS) -> list[Mapping[str, Any]]:
    """The groups the brief shows, in report order: every harmed group, then pre-specified groups, the
    rule's leaves, groups with a sign of harm or a clear benefit, then the closest to harm (smallest
    one-sided p), up to ``limit`` rows (more only when more groups are harmed)."""
    def priority(item):
        index, s = item
        shown = shown_flag(s)
        rank = (0 if s["flag"] == "harmed" else 1 if s["family"] == "prespecified" else
                2 if s["family"] == "policy_leaf" else 3 if shown in ("possibly_harmed", "benefits") else 4)
        return rank, s["p_value"] if s["p_value"] is not None else 1.0, index

    ranked = sorted(enumerate(subgroups), key=priority)
    keep = max(limit, sum(s["flag"] == "harmed" for s in subgroups))
    chosen = sorted(ranked[:keep], key=lambda item: item[0])
    return [s for _, s in chosen]


def brief_balance(balance: list[Mapping[str, Any]], limit: int = BRIEF_BALANCE) -> list[Mapping[str, Any]]:
    """The balance rows the brief shows, in report order: all when few, else every row the report
    calls imbalanced and then the largest standardised differences, up to ``limit``."""
    if len(balance) <= limit:
        return list(balance)
    order = sorted(range(len(balance)), key=lambda i: (not balance[i]["imbalanced"], -abs(balance[i]["smd"] or 0.0)))
    keep = max(limit, sum(row["imbalanced"] for row in balance))
    return [balance[i] for i in sorted(order[:keep])]


def _context(report: Mapping[str, Any]) -> dict[str, Any]:
    """What the templates need besides the report: the outcome's scale, the currency, the bounded lists."""
    data = report["data"]
    binary = data["outcome_type"] == "binary"
    currency = report["config"].get("currency")
    budget = report["policy"]["budget"]
    groups = brief_subgroups(report["subgroups"])
    return dict(
        binary=binary, currency=currency,
        treated_arm=arm_label(data["treated_label"], True), control_arm=arm_label(data["control_label"], False),
        budget_words=budget_words(budget["kind"], budget["value"], budget["description"], currency),
        show_spend=bool(data["cost_source"]) or budget["kind"] == "money",
        caveats=[f for f in report["findings"] if f["code"] in DECISION_CAVEATS],
        possibly_harmed=[s for s in report["subgroups"] if shown_flag(s) == "possibly_harmed"],
        brief_groups=groups, brief_balance=brief_balance(report["diagnostics"]["balance"]),
        max_covariates=BRIEF_COVARIATES, verdict_words=VERDICT_WORDS,
    )


def brief_charts(report: Mapping[str, Any]) -> dict[str, str | None]:
    """Every chart of the brief as a ``data:`` URI; the forest plot is ``None`` without subgroups.

    Drawing them is most of the time the HTML takes: the PDF and brief.html share one set
    (``charts=`` of `render_html`, `render_brief`).
    """
    return _charts(report, _context(report))


def _charts(report: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, str | None]:
    data = report["data"]
    diag = report["diagnostics"]
    direction = data["direction"]
    outcome = outcome_words(data["outcome"])
    binary = context["binary"]
    forest = charts.subgroup_forest_svg(context["brief_groups"], direction=direction, outcome=outcome,
                                        family_labels=report["harm_summary"]["family_labels"],
                                        harm_threshold=report["config"]["harm_threshold"], binary=binary)
    return {
        "tree": _svg_uri(charts.policy_tree_svg(
            report["policy"]["tree"], binary=binary, levels={c["name"]: c["levels"] for c in data["covariates"]})),
        "curve": _svg_uri(charts.budget_curve_svg(report["budget_curve"],
                                                  chosen_share=report["policy"]["treated_share"],
                                                  chosen_label=report["recommendation"]["rule_label"],
                                                  gain_label="Gain per person", binary=binary,
                                                  by_cost=bool(data["cost_source"]),
                                                  total_cost=data["total_cost"], currency=context["currency"])),
        "effects": _svg_uri(charts.effect_distribution_svg(diag["cate_summary"], direction=direction,
                                                           outcome=outcome, binary=binary)),
        "forest": _svg_uri(forest) if forest is not None else None,
        "overlap": _svg_uri(charts.overlap_svg(diag["overlap"], treated_label=context["treated_arm"],
                                               control_label=context["control_arm"])),
    }


def render_html(report: Mapping[str, Any], *, inline_css: str | None = None,
                charts: Mapping[str, str | None] | None = None) -> str:
    """Render the brief as an HTML string (charts embedded as ``data:`` URIs).

    Parameters
    ----------
    report : mapping
        The report model as plain data (``ReportModel.to_dict()`` or ``json.load`` of
        ``report.json``).
    inline_css : str, optional
        A stylesheet written into the page's ``<style>`` (the self-contained brief.html); the PDF
        passes its stylesheet to WeasyPrint instead.
    charts : mapping, optional
        The charts (`brief_charts` of the same report), when they are already drawn.

    Returns
    -------
    str
        The HTML document; every text from the input is escaped.
    """
    env = make_environment()
    template = env.get_template("brief.html")
    context = _context(report)
    charts = _charts(report, context) if charts is None else charts
    return template.render(r=report, charts=charts, inline_css=inline_css, **context)


def stylesheet(name: str) -> str:
    """A stylesheet of the templates folder (``brief.css``, ``screen.css``)."""
    text = _load_template(name)
    if text is None:
        raise FileNotFoundError(f"stylesheet {name!r} is missing from the brief's templates")
    return text


def layout_brief(report: Mapping[str, Any], *, url_fetcher=None, charts: Mapping[str, str | None] | None = None):
    """The brief laid out in pages (a WeasyPrint ``Document``), before it is written as PDF.

    Parameters
    ----------
    report : mapping
        The report model as plain data.
    url_fetcher : TemplateOnlyFetcher, optional
        The fetcher WeasyPrint uses; default a new :func:`TemplateOnlyFetcher`.
    charts : mapping, optional
        The charts (`brief_charts`), when they are already drawn.

    Returns
    -------
    weasyprint.document.Document
        Its ``pages`` can be measured (how full each is) and ``write_pdf()`` gives the PDF.
    """
    fetcher = url_fetcher if url_fetcher is not None else TemplateOnlyFetcher()
    root = _templates_dir()
    base_url = root.as_uri() + "/" if root is not None else None
    document = HTML(string=render_html(report, charts=charts), base_url=base_url, url_fetcher=fetcher)
    css = CSS(string=stylesheet("brief.css"), base_url=base_url, url_fetcher=fetcher)
    return document.render(stylesheets=[css])


def render_brief(report: Mapping[str, Any], *, url_fetcher=None,
                 charts: Mapping[str, str | None] | None = None) -> bytes:
    """Render the PDF brief from the report model.

    Parameters
    ----------
    report : mapping
        The report model as plain data (``ReportModel.to_dict()`` or ``json.load`` of
        ``report.json``). Only read, never modified.
    url_fetcher : TemplateOnlyFetcher, optional
        The fetcher WeasyPrint uses; default a new :func:`TemplateOnlyFetcher`. Tests pass their
        own to inspect the URLs requested.
    charts : mapping, optional
        The charts (`brief_charts`), when they are already drawn.

    Returns
    -------
    bytes
        The PDF document (A4; 6 pages for the bundled examples: two that decide, then the appendix).

    Examples
    --------
    >>> import json
    >>> pdf = render_brief(json.load(open("report.json")))  # doctest: +SKIP
    >>> open("brief.pdf", "wb").write(pdf)  # doctest: +SKIP
    """
    return layout_brief(report, url_fetcher=url_fetcher, charts=charts).write_pdf()
