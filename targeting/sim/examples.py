"""Write the bundled example inputs: a `data` sheet and a `config` sheet, so that
`targeting report EXAMPLE.xlsx` works with no flags."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from targeting.errors import ConfigError, OutputError
from targeting.report.csv_text import write_csv
from targeting.sim.simulate import EXAMPLES


def config_rows(settings: dict) -> list[tuple[str, str]]:
    """``key | value`` rows; list settings become one row per item (subgroups) or a comma list."""
    rows = []
    for key, value in settings.items():
        if isinstance(value, list) and key == "subgroup":
            rows.extend((key, item) for item in value)
        elif isinstance(value, list):
            rows.append((key, ", ".join(value)))
        else:
            rows.append((key, value))
    return rows


def write_example(name: str, path: Path) -> Path:
    """Write example ``name`` to ``path`` (.xlsx with data and config sheets, or .csv data only).

    Raises
    ------
    ConfigError
        For an unknown example name or a file type other than .xlsx and .csv.
    OutputError
        When ``path`` already exists (it is never overwritten) or cannot be written.
    """
    if name not in EXAMPLES:
        raise ConfigError(f"Unknown example '{name}'. Choose one of: {', '.join(EXAMPLES)}.")
    make, settings, description = EXAMPLES[name]
    path = Path(path)
    if path.exists() or path.is_symlink():
        what = "a folder" if path.is_dir() else "a file that already exists"
        raise OutputError(f"'{path}' is {what}; the example is never written over it. Delete it first, or give "
                          "another file name with -o.")
    suffix = path.suffix.lower()
    if suffix not in (".xlsx", ".csv"):
        raise ConfigError(f"Example output '{path.name}' must end in .xlsx or .csv.")
    frame = make()
    tmp = path.with_name(f".{path.name}.part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".csv":
            write_csv(frame, tmp)
        else:
            with pd.ExcelWriter(tmp, engine="openpyxl") as writer:
                frame.to_excel(writer, sheet_name="data", index=False)
                config = pd.DataFrame([("# " + description, None)] + config_rows(settings), columns=["key", "value"])
                config.to_excel(writer, sheet_name="config", index=False)
        tmp.replace(path)  # complete or absent: never a half-written example
    except OSError as exc:
        raise OutputError(f"Cannot write '{path}' ({exc.strerror}). Choose another path with -o.") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
