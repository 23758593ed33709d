"""brief.html: the brief as one self-contained HTML file, for e-mail and intranets.

The same template and content as the PDF (:mod:`targeting.report.pdf`); the stylesheets are written
into the page and every chart is an inline ``data:`` SVG, so the file needs nothing beside it and
fetches nothing when opened.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from targeting.report.pdf import brief_charts, render_brief, render_html, stylesheet

__all__ = ["render_briefs", "render_standalone_html"]


def render_standalone_html(report: Mapping[str, Any], *, charts: Mapping[str, str | None] | None = None) -> str:
    """The brief as one self-contained HTML page.

    Parameters
    ----------
    report : mapping
        The report model as plain data (``ReportModel.to_dict()`` or ``json.load`` of ``report.json``).
    charts : mapping, optional
        The charts (`targeting.report.pdf.brief_charts`), when the PDF has drawn them already.

    Returns
    -------
    str
        The HTML document: print styles for A4, screen styles for a browser window.
    """
    return render_html(report, inline_css=stylesheet("brief.css") + "\n" + stylesheet("screen.css"), charts=charts)


def render_briefs(report: Mapping[str, Any]) -> tuple[bytes, str]:
    """brief.pdf and brief.html of one report, with the charts drawn once for both.

    Returns
    -------
    tuple of (bytes, str)
        The PDF document and the self-contained HTML page.
    """
    charts = brief_charts(report)
    return render_brief(report, charts=charts), render_standalone_html(report, charts=charts)
