"""Write a run's outputs atomically: everything is rendered to temporary names first and renamed
only when every file is complete, so a failed or killed run leaves nothing at the final paths."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

from targeting.errors import OutputError
from targeting.pipeline import RunResult

OUTPUT_NAMES = ("brief.pdf", "brief.html", "pack.xlsx", "report.json", "individuals.csv")


def default_outdir(input_path: Path) -> Path:
    """``<input stem>_report/`` beside the input."""
    return input_path.parent / f"{input_path.stem}_report"


def check_outdir(outdir: Path, input_path: Path) -> None:
    """Refuse an output folder that cannot be written or that would overwrite the input."""
    resolved_input = input_path.resolve()
    if outdir.exists() and not outdir.is_dir():
        if outdir.resolve() == resolved_input:
            raise OutputError("The output path is the input file itself. Give a folder with -o, e.g. -o results.")
        raise OutputError(f"Output path '{outdir}' is a file, not a folder. Give a folder with -o.")
    for name in OUTPUT_NAMES:
        if (outdir / name).resolve() == resolved_input:
            raise OutputError(f"Writing '{name}' into '{outdir}' would overwrite the input file. Choose another -o folder.")
    # Nothing is created yet (a refused run must leave no trace): check the nearest existing folder.
    existing = outdir
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"Cannot create output folder '{outdir}': '{existing}' is a file. Choose another folder with -o.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"Output folder '{outdir}' is not writable. Choose another folder with -o.")


def write_outputs(result: RunResult, outdir: Path, *, progress: Callable[[str], None] | None = None) -> list[Path]:
    """Render and write brief.pdf, brief.html, pack.xlsx, report.json and individuals.csv into ``outdir``.

    ``progress``, if given, is called with a short description after each file is rendered.

    Returns
    -------
    list of Path
        The final paths, in the order written.
    """
    from targeting.report.excel.workbook import write_workbook
    from targeting.report.html import render_standalone_html
    from targeting.report.pdf import render_brief

    step = progress or (lambda _stage: None)
    step("loaded the PDF and Excel renderers")
    report = result.report.to_dict()
    temporary: dict[str, Path] = {}
    try:
        outdir.mkdir(parents=True, exist_ok=True)
        for name in OUTPUT_NAMES:
            handle, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=outdir)
            os.close(handle)
            temporary[name] = Path(tmp)
        temporary["report.json"].write_text(result.report.to_json(), encoding="utf-8")
        result.individuals.to_csv(temporary["individuals.csv"], index=False, float_format="%.6g")
        step("wrote report.json and individuals.csv")
        write_workbook(report, result.individuals, temporary["pack.xlsx"])
        step("wrote the Excel pack")
        temporary["brief.pdf"].write_bytes(render_brief(report))
        temporary["brief.html"].write_text(render_standalone_html(report), encoding="utf-8")
        step("rendered the brief (PDF and HTML)")
        finals = []
        for name in OUTPUT_NAMES:
            final = outdir / name
            os.replace(temporary[name], final)
            finals.append(final)
        return finals
    except OSError as exc:
        raise OutputError(f"Could not write the outputs into '{outdir}' ({exc.strerror}). Check free space and permissions.") from None
    finally:
        for tmp in temporary.values():
            if tmp.exists():
                tmp.unlink()
