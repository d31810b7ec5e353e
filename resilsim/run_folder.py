"""The folder of one ``resilsim run``: written as a set, checked before anything reads it.

:func:`write_run_dir` writes a run's tables, charts, scenario and ``run.json``
(listing every file with its size and checksum, written last) so that a folder
never mixes two runs' files; :func:`check_run_dir` is what ``resilsim report``
calls before it reads one.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
from pathlib import Path

from .errors import StoreError
from .files import fsync, sha256_of, unlink_quietly, why

RUN_META = "run.json"


def write_run_dir(out, write, meta: dict, owned=()) -> list[Path]:
    """Write one run's files into the folder ``out`` as a set, never mixed with a previous run's files.

    ``write(tmp)`` writes the files into a new temporary folder (beside ``out``, or inside it when it
    exists) and returns their paths; each is fsynced and listed with its size (bytes) and sha256 under
    ``files`` in ``run.json`` (``meta`` plus that list), written last. A missing ``out`` is that folder
    renamed into place. Into an existing folder, its ``run.json`` is removed first, the previous run's
    files not in the new set (those its ``run.json`` lists, and those of the names ``owned``) are
    deleted, the new files moved in and ``run.json`` moved in last: a folder without ``run.json`` is
    incomplete, and
    :func:`check_run_dir` refuses it. Other files in ``out`` are left alone. A failure while writing
    leaves ``out`` as it was and raises :class:`StoreError` naming it. Returns the paths in ``out``.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise StoreError(f"{out}: is not a directory; give --out a folder for the run's files")
    fresh = not out.exists()
    # Inside an existing folder (its parent may be read-only, as /tmp's is), else beside the new one.
    parent = Path(os.path.abspath(out)).parent if fresh else out
    tmp = None
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = parent / f".{Path(os.path.abspath(out)).name}.partial-{secrets.token_hex(4)}"
        tmp.mkdir()
        files = {}
        for p in write(tmp):
            fsync(p)
            files[p.name] = {"bytes": p.stat().st_size, "sha256": sha256_of(p)}
        (tmp / RUN_META).write_text(json.dumps({**meta, "files": files}, indent=1, default=str))
        fsync(tmp / RUN_META)
        fsync(tmp)
    except BaseException as e:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError):
            raise StoreError(f"{out}: cannot write the run's files ({why(e)}); what the folder held before "
                             "is unchanged") from None
        raise
    names = [*files, RUN_META]
    try:
        if fresh:
            os.rename(tmp, out)
        else:
            previous = set(_listed(out)) | set(owned)
            unlink_quietly(out / RUN_META)
            fsync(out)
            for name in previous - set(names):
                unlink_quietly(out / name)
            for name in names:  # run.json last
                os.replace(tmp / name, out / name)
            os.rmdir(tmp)
        fsync(out)
        if fresh:
            fsync(parent)
    except OSError as e:
        raise StoreError(f"{out}: cannot move the run's files into place ({why(e)}); the folder is incomplete "
                         f"until the run is repeated (its new files are in {tmp})") from None
    return [out / n for n in names]


def check_run_dir(path, reads=()) -> dict:
    """Check that the run folder ``path`` holds one complete run, as :func:`write_run_dir` wrote it.

    Every file ``run.json`` lists must be there with its recorded size and sha256, and each of the
    names ``reads`` (the files a reader will use) that is present must be listed. Returns the
    contents of ``run.json``; raises :class:`StoreError` (one sentence naming the file) otherwise.
    """
    path = Path(path)
    again = f"run `resilsim run --out {path}` again"
    meta_path = path / RUN_META
    if not meta_path.exists():
        raise StoreError(f"{path}: incomplete run folder (no {RUN_META}: the run writing it did not finish); {again}")
    try:
        meta = json.loads(meta_path.read_text())
    except (ValueError, UnicodeDecodeError):
        meta = None
    files = meta.get("files") if isinstance(meta, dict) else None
    if not isinstance(files, dict) or not all(isinstance(v, dict) for v in files.values()):
        raise StoreError(f"{meta_path}: lists no files with their checksums (cut, edited, or written by an older "
                         f"resilsim), so the folder cannot be checked to hold one run; {again}")
    for name, info in files.items():
        p = path / name
        if Path(name).name != name or not p.is_file():
            raise StoreError(f"{p}: missing; the folder does not hold the whole run {RUN_META} records; {again}")
        if p.stat().st_size != info.get("bytes") or sha256_of(p) != info.get("sha256"):
            raise StoreError(f"{p}: changed since the run recorded in {RUN_META} wrote it (its size or checksum "
                             f"differs), so the folder mixes files of two runs; {again}")
    for name in reads:
        if name not in files and (path / name).exists():
            raise StoreError(f"{path / name}: not part of the run recorded in {RUN_META} (left from another "
                             f"run), so the folder mixes files of two runs; {again}")
    return meta


def _listed(out: Path) -> list[str]:
    """The plain file names a folder's run.json lists (none when it is missing or unreadable)."""
    try:
        files = json.loads((out / RUN_META).read_text()).get("files")
    except (OSError, ValueError, AttributeError, UnicodeDecodeError):
        return []
    return [n for n in files if isinstance(n, str) and Path(n).name == n] if isinstance(files, dict) else []
