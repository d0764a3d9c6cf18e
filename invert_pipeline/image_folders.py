"""Checks of a local image folder before Hugging Face's image folder builder reads it.

The builder reads what it cannot understand in ways that lose data without an error: a class
folder whose name does not survive its path handling (a backslash reads as a separator) leaves every
image unlabelled and undecodable, and a ``metadata.csv`` that lists a file twice adds a second sample
of the same image, with other attribute values when the rows disagree. Both are refused here, naming
the folder or the rows.
"""

from __future__ import annotations

import csv
import posixpath
import unicodedata
from pathlib import Path

METADATA_FILE = "metadata.csv"


def check_image_folder(root: str | Path) -> None:
    """Refuse an image folder ``root`` whose class folder names or metadata rows are ambiguous (``ValueError``)."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"--dataset {str(root)!r} is not a folder")
    for folder in sorted(path for path in root.iterdir() if path.is_dir() and not path.name.startswith(".")):
        problem = _name_problem(folder.name)
        if problem is not None:
            raise ValueError(
                f"--dataset {str(root)!r}: the class folder {folder.name!r} {problem}, so its images would lose their "
                "class; rename the folder (its name is the class name)"
            )
    for metadata in sorted(root.rglob(METADATA_FILE)):
        _check_one_row_per_file(metadata)


def _name_problem(name: str) -> str | None:
    """Why the folder name ``name`` would not come back as itself from a file path, or ``None``."""
    if "\\" in name:
        return "holds a backslash, which Hugging Face's builder reads as a path separator"
    if any(0xD800 <= ord(character) <= 0xDFFF for character in name):
        return "is not valid text in the file system's encoding"
    if any(unicodedata.category(character) == "Cc" for character in name):
        return "holds a control character"
    return None


def _check_one_row_per_file(metadata: Path) -> None:
    """Refuse a metadata file that lists one image file in more than one row, naming the rows (file line numbers)."""
    with open(metadata, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or "file_name" not in reader.fieldnames:
            raise ValueError(f"{metadata}: a metadata file needs a file_name column naming each image; it has "
                             f"{reader.fieldnames or 'no header'}")
        rows: dict[str, list[tuple[int, dict]]] = {}
        for row in reader:
            rows.setdefault(posixpath.normpath(row["file_name"] or ""), []).append((reader.line_num, row))
    repeated = {name: listed for name, listed in rows.items() if len(listed) > 1}
    if not repeated:
        return
    descriptions = []
    for name, listed in sorted(repeated.items()):
        lines = ", ".join(str(line) for line, _ in listed)
        values = {tuple(sorted((key, value) for key, value in row.items() if key != "file_name")) for _, row in listed}
        how = "with different values" if len(values) > 1 else "with the same values"
        descriptions.append(f"{name!r} on lines {lines} ({how})")
    shown = "; ".join(descriptions[:10]) + (f"; and {len(descriptions) - 10} more" if len(descriptions) > 10 else "")
    raise ValueError(
        f"{metadata} lists {len(repeated)} image file(s) in more than one row: {shown}. Each row adds a sample, "
        "so keep exactly one row per file with its attribute values"
    )
