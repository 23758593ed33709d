"""Write a run's outputs atomically: everything is rendered to temporary names first and renamed
only when every file is complete, so a failed or killed run leaves nothing at the final paths."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from targeting.errors import OutputError

if TYPE_CHECKING:  # the pipeline's imports (scikit-learn, ...) are not needed to check the output folder
    from targeting.parallel import SpareProcess
    from targeting.pipeline import RunResult

OUTPUT_NAMES = ("brief.pdf", "brief.html", "pack.xlsx", "report.json", "individuals.csv")

# Temporary names carry the writing process's id, so a later run can tell the leftovers of a
# killed run (process gone) from the files of a run still writing into the same folder.
_PART = re.compile(r"^\.(?:" + "|".join(re.escape(n) for n in OUTPUT_NAMES) + r")\.(?:(\d+)\.)?[^/]*\.part$")


def default_outdir(input_path: Path) -> Path:
    """``<input stem>_report/`` beside the input."""
    return input_path.parent / f"{input_path.stem}_report"


def check_outdir(outdir: Path, input_path: Path) -> None:
    """Refuse an output folder that cannot be written or that would overwrite the input."""
    resolved_input = input_path.resolve()
    if outdir.is_symlink() and not outdir.exists():
        raise OutputError(f"Output path '{outdir}' is a link to '{os.readlink(outdir)}', which does not exist. "
                          "Remove the link, or give another folder with -o.")
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
        if existing.is_symlink():
            raise OutputError(f"Cannot create output folder '{outdir}': '{existing}' is a link to a place that "
                              "does not exist. Remove the link, or choose another folder with -o.")
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"Cannot create output folder '{outdir}': '{existing}' is a file. Choose another folder with -o.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"Output folder '{outdir}' is not writable. Choose another folder with -o.")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_parts(outdir: Path) -> list[Path]:
    """Delete temporary files left in ``outdir`` by earlier runs that were killed (SIGKILL, power
    loss); files of a run still writing there are kept. Returns the files removed."""
    removed = []
    if not outdir.is_dir():
        return removed
    for entry in outdir.iterdir():
        match = _PART.match(entry.name)
        if not match or not entry.is_file():
            continue
        pid = int(match.group(1)) if match.group(1) else None
        if pid is not None and pid != os.getpid() and _process_alive(pid):
            continue
        try:
            entry.unlink()
            removed.append(entry)
        except OSError:
            pass
    return removed


def _file_mode() -> int:
    """The mode a newly created file gets under the current umask (0644 under umask 022)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def write_outputs(result: "RunResult", outdir: Path, *, progress: Callable[[str], None] | None = None,
                  spare: "SpareProcess | None" = None) -> list[Path]:
    """Render and write brief.pdf, brief.html, pack.xlsx, report.json and individuals.csv into ``outdir``.

    The five files replace earlier outputs in ``outdir`` together, only once all are complete;
    they are readable as the umask allows, like any file the user creates. ``progress``, if given,
    is called with a short description after each step. With ``spare`` (a `SpareProcess` that
    imported `targeting.report.html`), the brief is rendered there while this process writes the rest.

    Returns
    -------
    list of Path
        The final paths, in the order written.
    """
    from targeting.report.csv_text import write_csv
    from targeting.report.excel.workbook import write_workbook

    report = result.report.to_dict()
    briefs = spare.submit(render_briefs_here, report) if spare is not None else None
    step = progress or (lambda _stage: None)
    step("loaded the PDF and Excel renderers")
    temporary: dict[str, Path] = {}
    created = not outdir.exists()
    finals: list[Path] = []
    try:
        outdir.mkdir(parents=True, exist_ok=True)
        stale = remove_stale_parts(outdir)
        if stale:
            step(f"removed {len(stale)} unfinished file{'s' if len(stale) > 1 else ''} left by an earlier, interrupted run")
        for name in OUTPUT_NAMES:
            handle, tmp = tempfile.mkstemp(prefix=f".{name}.{os.getpid()}.", suffix=".part", dir=outdir)
            os.close(handle)
            temporary[name] = Path(tmp)
        temporary["report.json"].write_text(result.report.to_json(), encoding="utf-8")
        write_csv(result.individuals, temporary["individuals.csv"], float_format="%.6g")
        step("wrote report.json and individuals.csv")
        write_workbook(report, result.individuals, temporary["pack.xlsx"])
        step("wrote the Excel pack")
        pdf, html = _briefs(briefs, report)
        temporary["brief.pdf"].write_bytes(pdf)
        temporary["brief.html"].write_text(html, encoding="utf-8")
        step("rendered the brief (PDF and HTML)")
        earlier = [name for name in OUTPUT_NAMES if (outdir / name).exists()]
        mode = _file_mode()
        for name in OUTPUT_NAMES:
            final = outdir / name
            os.chmod(temporary[name], mode)
            os.replace(temporary[name], final)
            finals.append(final)
        if earlier:
            step(f"replaced the earlier outputs in '{outdir}' ({', '.join(earlier)}) with this run's, all together")
        return finals
    except OSError as exc:
        raise OutputError(f"Could not write the outputs into '{outdir}' ({exc.strerror}). Check free space and permissions.") from None
    finally:
        for tmp in temporary.values():
            if tmp.exists():
                tmp.unlink()
        if created and not finals and outdir.is_dir() and not any(outdir.iterdir()):
            outdir.rmdir()  # a failed run (disk full, interrupted) leaves no empty folder behind


def render_briefs_here(report: dict) -> tuple[bytes, str]:
    """brief.pdf and brief.html (`targeting.report.html.render_briefs`), in whichever process calls
    it: a function of this light module, so that sending it to a spare process does not load the
    renderers here."""
    from targeting.report.html import render_briefs

    return render_briefs(report)


def _briefs(future, report: dict) -> tuple[bytes, str]:
    """The spare process's rendering, or this process's when there is none or it died (killed, out
    of memory); an error of the rendering itself is raised as if it had happened here."""
    from concurrent.futures.process import BrokenProcessPool

    if future is not None:
        try:
            return future.result()
        except BrokenProcessPool:
            pass
    return render_briefs_here(report)
