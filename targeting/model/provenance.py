"""Provenance: which input, which tool and package versions, which seed, when."""

from __future__ import annotations

import datetime as _dt
from importlib import metadata

from targeting import __version__
from targeting.config import Config
from targeting.data.read import RawInput
from targeting.model.report import Provenance

PACKAGES = ("numpy", "pandas", "scikit-learn", "econml", "scipy", "openpyxl", "jinja2", "weasyprint", "matplotlib")


def provenance(raw: RawInput, config: Config) -> Provenance:
    """What a reader needs to reproduce the report (the input's SHA-256, versions, seed)."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return Provenance(input_file=raw.name, input_sha256=raw.sha256, data_sheet=raw.data_sheet, tool="targeting",
                      tool_version=__version__, packages=versions, seed=config.seed,
                      created=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                      config_from_sheet=sorted(raw.sheet_config))
