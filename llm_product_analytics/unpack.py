"""Unpack an Amplitude Export API zip into the raw layout (docs/input-contract.md).

The Export API returns a zip with one folder per project id holding gzipped JSON-lines files
named `<project>_<YYYY-MM-DD>_<H>#<n>.json.gz`. Each file is written, byte for byte (never
recompressed), to `<out_dir>/<YYYY-MM-DD>/<basename>`.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import shutil
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

log = logging.getLogger(__name__)

# `434735_2026-07-20_9#0.json.gz`: the date is the second `_`-separated part.
_DATE_IN_NAME = re.compile(r"^[^_/]+_(\d{4}-\d{2}-\d{2})_[^/]*\.json\.gz$")


class UnpackError(ValueError):
    """The zip cannot be unpacked safely (nothing has been written)."""


def _is_unsafe(name: str) -> bool:
    """Absolute paths, drive letters and `..` components (zip-slip)."""
    normalised = name.replace("\\", "/")
    if normalised.startswith("/") or re.match(r"^[A-Za-z]:", normalised):
        return True
    return ".." in PurePosixPath(normalised).parts


def _target_date(basename: str) -> str | None:
    match = _DATE_IN_NAME.match(basename)
    if match is None:
        return None
    try:
        dt.date.fromisoformat(match.group(1))
    except ValueError:
        return None
    return match.group(1)


def unpack_export(zip_path: Path, out_dir: Path) -> list[Path]:
    """Extract every `.json.gz` member into `out_dir/<YYYY-MM-DD>/<basename>`.

    Refuses the whole zip (UnpackError, nothing written) when a member has an absolute path
    or a `..` component, or when two members would land on the same path. Directories and
    other members are skipped with a warning. Rerunning overwrites the same files with the
    same bytes. Returns the written paths, sorted.
    """
    zip_path, out_dir = Path(zip_path), Path(out_dir)
    plan: dict[Path, zipfile.ZipInfo] = {}
    with zipfile.ZipFile(zip_path) as archive:
        members = archive.infolist()
        unsafe = [m.filename for m in members if _is_unsafe(m.filename)]
        if unsafe:
            raise UnpackError(
                f"{zip_path}: refusing to unpack, member path(s) escape the output folder "
                f"(absolute or '..'): {', '.join(unsafe)}"
            )
        for member in members:
            if member.is_dir():
                continue
            basename = PurePosixPath(member.filename.replace("\\", "/")).name
            if not basename.endswith(".json.gz"):
                log.warning("%s: skipping %s (not a .json.gz file)", zip_path, member.filename)
                continue
            date = _target_date(basename)
            if date is None:
                log.warning(
                    "%s: skipping %s (no YYYY-MM-DD date in the file name)",
                    zip_path,
                    member.filename,
                )
                continue
            target = out_dir / date / basename
            if target in plan:
                raise UnpackError(
                    f"{zip_path}: members {plan[target].filename} and {member.filename} "
                    f"would both be written to {target}"
                )
            plan[target] = member

        written = []
        for target, member in sorted(plan.items()):
            target.parent.mkdir(parents=True, exist_ok=True)
            # Write to a temp file then rename, so an interrupted run never leaves a
            # truncated file that the loader would take for a complete delivery.
            fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
            try:
                with archive.open(member) as source, os.fdopen(fd, "wb") as sink:
                    shutil.copyfileobj(source, sink, 1 << 20)
                os.chmod(tmp_name, 0o644)
                os.replace(tmp_name, target)
            except BaseException:
                Path(tmp_name).unlink(missing_ok=True)
                raise
            written.append(target)
    return sorted(written)
