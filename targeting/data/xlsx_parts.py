"""The parts of an .xlsx file (a zip of XML parts): which part holds a sheet, and what its cells hold.

pandas reads the values; this reads what pandas cannot report, such as formulas whose results
were never saved, and is shared with the Excel writer, which splices rows into a sheet's part.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np


def column_letter(index: int) -> str:
    """0-based column index to a spreadsheet letter: 0 -> A, 27 -> AB."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def cell_ref(row: int, col: int) -> str:
    """0-based (row, column) to an A1 reference."""
    return f"{column_letter(col)}{row + 1}"


def ref_to_index(ref: str) -> tuple[int, int]:
    """An A1 reference to 0-based (row, column)."""
    match = re.fullmatch(r"\$?([A-Za-z]+)\$?(\d+)", ref)
    if not match:
        raise ValueError(ref)
    col = 0
    for ch in match.group(1).upper():
        col = col * 26 + ord(ch) - 64
    return int(match.group(2)) - 1, col - 1


def sheet_part(archive: zipfile.ZipFile, sheet_name: str) -> str | None:
    """The zip member holding a worksheet's XML, found through the workbook's relationships."""
    book = ET.fromstring(archive.read("xl/workbook.xml"))
    rels = ET.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    targets = {r.get("Id"): r.get("Target") for r in rels if r.get("Id")}
    for element in book.iter():
        if element.tag.rsplit("}", 1)[-1] == "sheet" and element.get("name") == sheet_name:
            rid = next((v for k, v in element.attrib.items() if k.rsplit("}", 1)[-1] == "id"), None)
            target = targets.get(rid)
            if not target:
                return None
            return target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
    return None


def _sheet_cells(data: bytes):
    """Yield ``(row, column, element)`` for each cell of a sheet's XML (0-based), memory kept small."""
    row, col = -1, -1
    for event, element in ET.iterparse(io.BytesIO(data), events=("start", "end")):
        tag = element.tag.rsplit("}", 1)[-1]
        if event == "start":
            if tag == "row":
                r = element.get("r")
                row, col = (int(r) - 1 if r else row + 1), -1
            continue
        if tag == "c":
            ref = element.get("r")
            row, col = ref_to_index(ref) if ref else (row, col + 1)
            yield row, col, element
            element.clear()
        elif tag == "row":
            element.clear()


def unsaved_formulas_and_errors(path: Path, sheet_name: str) -> list[tuple[int, int, str, str]]:
    """Cells of a sheet that hold a formula with no saved result, or an Excel error value.

    Returns ``(row, column, kind, text)`` with 0-based positions, ``kind`` 'formula' or 'error'.
    Any surprise in the file's structure returns no cells: this is an extra check, never a
    reason to fail a file that reads.
    """
    found: list[tuple[int, int, str, str]] = []
    try:
        with zipfile.ZipFile(path) as archive:
            part = sheet_part(archive, sheet_name)
            if part is None:
                return []
            data = archive.read(part)
        if not _may_hold_formulas_or_errors(data):
            return []
        for row, col, element in _sheet_cells(data):
            formula = value = None
            for child in element:
                child_tag = child.tag.rsplit("}", 1)[-1]
                if child_tag == "f":
                    formula = child
                elif child_tag == "v":
                    value = child
            kind = element.get("t")
            if kind == "e":
                found.append((row, col, "error", (value.text if value is not None else None) or "#ERROR"))
            elif formula is not None and (value is None or not value.text) and kind not in ("str", "inlineStr"):
                found.append((row, col, "formula", ""))
    except Exception:
        return []
    return found


def _may_hold_formulas_or_errors(data: bytes) -> bool:
    """False only when a sheet's XML has no formula element (``<f>``, maybe prefixed) and no
    error cell (``t="e"``). Substring tests first: the regexes alone took 0.6 of the 5.5 s of
    reading a 100,000-row workbook."""
    formula = any(tag in data for tag in (b"<f>", b"<f ", b"<f/", b"<f\t", b"<f\n", b"<f\r")) or (
        b":f" in data and re.search(rb"<\w+:f[\s>/]", data) is not None)
    return formula or b't="e"' in data


def _longest_text(window: bytes) -> int:
    """The longest run of bytes without a ``<`` in ``window``: the gaps between tag openings.

    The regex ``[^<]{limit + 1}`` says the same, four to five times slower: it took 1.3 of the 6 s of reading
    a 100,000-row workbook (bench/RESULTS.md, session 4).
    """
    opens = np.flatnonzero(np.frombuffer(window, dtype=np.uint8) == ord("<"))
    return int(np.diff(opens, prepend=-1, append=len(window)).max()) - 1


def part_size_facts(archive: zipfile.ZipFile, part: str, *, text_limit: int,
                    chunk: int = 1 << 22) -> tuple[int, bool, tuple[int, int]]:
    """What a worksheet (or shared-strings) part holds, read in chunks without building it.

    Returns ``(cells, long_text, extent)``: about how many cells (``<c>`` elements) or strings
    (``<si>``) it holds, whether some text between two tags is longer than ``text_limit`` bytes
    (reading stops there), and the (rows, columns) of the range from A1 to the farthest cell,
    which a reader fills in full. Memory stays at a few chunks whatever the part's size, so a
    small file that unpacks to gigabytes is refused before any reader builds it.
    """
    cells = max_row = max_col = 0
    tail = b""
    with archive.open(part) as handle:
        while block := handle.read(chunk):
            window = tail + block
            if _longest_text(window) > text_limit:
                return cells, True, (max_row, max_col)
            # Tags split between chunks are missed: a count within a few of the truth is enough.
            cells += block.count(b"<c ") + block.count(b"<c>") + block.count(b"<si>")
            letters = set(re.findall(rb'<c r="([A-Z]{1,3})\d', window))
            if letters:
                max_col = max(max_col, max(ref_to_index(f"{c.decode()}1")[1] + 1 for c in letters))
            rows = re.findall(rb'<row r="(\d+)"', window)
            if rows:
                max_row = max(max_row, max(map(int, rows)))
            tail = window[-(text_limit + 1):]
    return cells, False, (max_row, max_col)


# A reference to another workbook inside a formula: [1]Prices!B2 or '[1]Price list'!B2.
_EXTERNAL_REFERENCE = re.compile(r"\[(\d+)\]")


def _external_workbooks(archive: zipfile.ZipFile) -> dict[int, str]:
    """The other workbooks a workbook links to, by the number its formulas use (``[1]``)."""
    book = ET.fromstring(archive.read("xl/workbook.xml"))
    rels = ET.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    targets = {r.get("Id"): r.get("Target") for r in rels if r.get("Id")}
    names = {}
    references = [e for e in book.iter() if e.tag.rsplit("}", 1)[-1] == "externalReference"]
    for number, element in enumerate(references, 1):
        rid = next((v for k, v in element.attrib.items() if k.rsplit("}", 1)[-1] == "id"), None)
        part = posixpath.normpath(posixpath.join("xl", targets.get(rid) or ""))
        link_rels = posixpath.join(posixpath.dirname(part), "_rels", posixpath.basename(part) + ".rels")
        target = None
        if link_rels in archive.namelist():
            target = next((r.get("Target") for r in ET.fromstring(archive.read(link_rels)) if r.get("Target")), None)
        names[number] = posixpath.basename(target.replace("\\", "/")) if target else f"linked workbook {number}"
    return names


def external_references(path: Path, sheet_name: str) -> tuple[list[tuple[int, int]], list[str]]:
    """Cells of a sheet whose formulas read other workbooks, and the names of those workbooks.

    Returns ``(cells, workbooks)``: 0-based (row, column) of each such cell (a shared formula
    counts in every cell that uses it), and the linked files' names. Their values in this file are
    the copies Excel saved when it last updated the links. Any surprise in the file's structure
    returns nothing: this is a note, never a reason to fail a file that reads.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            if not any(n.startswith("xl/externalLinks/") for n in archive.namelist()):
                return [], []
            part = sheet_part(archive, sheet_name)
            if part is None:
                return [], []
            workbooks = _external_workbooks(archive)
            data = archive.read(part)
        cells, numbers, shared = [], set(), {}
        for row, col, element in _sheet_cells(data):
            formula = next((child for child in element if child.tag.rsplit("}", 1)[-1] == "f"), None)
            if formula is None:
                continue
            found = {int(n) for n in _EXTERNAL_REFERENCE.findall(formula.text or "")}
            if formula.get("t") == "shared" and formula.get("si") is not None:  # the master cell holds the text
                found = (shared.setdefault(formula.get("si"), found) if formula.text
                         else shared.get(formula.get("si"), set()))
            if found:
                cells.append((row, col))
                numbers |= found
    except Exception:
        return [], []
    return cells, [workbooks.get(n, f"linked workbook {n}") for n in sorted(numbers)]
