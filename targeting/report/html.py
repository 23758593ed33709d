"""brief.html: the brief as one self-contained HTML file, for e-mail and intranets.

The same template and content as the PDF (:mod:`targeting.report.pdf`); the stylesheets are written
into the page and every chart is an inline ``data:`` SVG, so the file needs nothing beside it and
fetches nothing when opened.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from targeting.report.pdf import render_html, stylesheet

__all__ = ["render_standalone_html"]


def render_standalone_html(report: Mapping[str, Any]) -> str:
    """The brief as one self-contained HTML page.

    Parameters
    ----------
    report : mapping
        The report model as plain data (``ReportModel.to_dict()`` or ``json.load`` of ``report.json``).

    Returns
    -------
    str
        The HTML document: print styles for A4, screen styles for a browser window.
    """
    return render_html(report, inline_css=stylesheet("brief.css") + "\n" + stylesheet("screen.css"))
