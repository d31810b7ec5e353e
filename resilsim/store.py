"""The results directory of a sweep: one Parquet file per finished run, plus a manifest.

Layout::

    DIR/manifest.json            the sweep's definition (scenario, grid, replications, seed)
    DIR/runs/<run_id>.parquet    the summary rows of one run (one per strategy, or one error row)
    DIR/timelines/<run_id>.parquet  its (downsampled) per-second series
    DIR/attempts/<run_id>.parquet   its attempt rows, only when asked
    DIR/failed/<run_id>.json     a run that raised: its error (its error row is in runs/ too)
    DIR/.lock                    locked (``fcntl.lockf``) while a sweep writes into DIR

Every file is written to a temporary name, fsynced and moved into place with
``os.replace`` (atomic on POSIX), so a run killed mid-write leaves no corrupt
file; a rerun skips the run ids already stored and readable and computes the
rest, failed runs included (a failure may be transient: a lost worker, memory).
Only the run ids the manifest defines are read: a file copied in from another
sweep is left out, with a warning. Only JSON and Parquet are read back: nothing
is unpickled or evaluated.

The folder of one ``resilsim run`` is written as a set (:func:`write_run_dir`)
and checked by the report (:func:`check_run_dir`).
"""
from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import tempfile
import threading
import warnings
from pathlib import Path

import pandas as pd

from .errors import ResilsimError

MANIFEST = "manifest.json"
FORMAT = 1


class StoreError(ResilsimError):
    """A results directory that cannot be used: unwritable, full, holding another sweep, or incomplete."""


class StoreWarning(UserWarning):
    """Stored files left out or run again: copied in from another sweep, or unreadable (the CLI prints one line)."""


#: Stores locked by this process: POSIX locks do not exclude two threads of one process, this set does.
_HELD: set = set()
_HELD_GUARD = threading.Lock()


class Store:
    """A sweep's results directory (see the module docstring for the layout)."""

    def __init__(self, path):
        self.path = Path(path)
        self._lock = None

    # ------------------------------------------------------------ manifest

    def open(self, definition: dict) -> None:
        """Lock the directory for this sweep, then create it and its manifest, or check that an existing
        one holds the same definition. Call :meth:`close` when the sweep ends.

        A second sweep into a directory another one is writing (in any process) is refused
        (:class:`StoreError`), so two sweeps started at once cannot mix their runs.
        """
        definition = json.loads(json.dumps({"format": FORMAT, **definition}, default=str, sort_keys=True))
        m = self.path / MANIFEST
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self._acquire()
        except OSError as e:
            raise self._oserror(e) from None
        try:
            if m.exists():
                old = self.manifest()
                if old != definition:
                    diff = sorted(k for k in set(old) | set(definition) if old.get(k) != definition.get(k))
                    raise StoreError(
                        f"{self.path}: holds results of a different sweep (its {', '.join(diff)} differ); "
                        "use a new --out directory, or delete this one to start again")
                return
            for sub in ("runs", "timelines", "attempts"):
                (self.path / sub).mkdir(parents=True, exist_ok=True)
            self._atomic_bytes(m, json.dumps(definition, indent=1, sort_keys=True).encode())
        except OSError as e:
            self.close()
            raise self._oserror(e) from None
        except BaseException:
            self.close()
            raise

    def _acquire(self) -> None:
        key = os.path.realpath(self.path)
        busy = StoreError(f"{self.path}: another sweep is writing into this directory (started at the same "
                          "time, or still running); wait for it to end, or use another --out directory")
        with _HELD_GUARD:
            if key in _HELD:
                raise busy
            fd = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                # A POSIX record lock: the kernel drops it when the process dies (a killed sweep resumes), and
                # worker processes forked from this one do not inherit it.
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                os.close(fd)
                if e.errno in (errno.EACCES, errno.EAGAIN):
                    raise busy from None
                raise
            _HELD.add(key)
            self._lock = (fd, key)

    def close(self) -> None:
        """Release the directory's lock (taken by :meth:`open`); the stored results stay."""
        if self._lock is None:
            return
        fd, key = self._lock
        self._lock = None
        with _HELD_GUARD:
            os.close(fd)  # closing the descriptor releases the POSIX lock
            _HELD.discard(key)

    def manifest(self) -> dict:
        """The stored sweep definition."""
        p = self.path / MANIFEST
        try:
            m = json.loads(p.read_text())
        except FileNotFoundError:
            raise StoreError(f"{self.path}: not a sweep results directory (no {MANIFEST})") from None
        except (ValueError, UnicodeDecodeError) as e:
            raise StoreError(f"{p}: is not valid JSON ({e})") from None
        if not isinstance(m, dict) or not {"scenario", "grid", "replications", "seed"} <= set(m):
            raise StoreError(f"{p}: not a sweep manifest (a JSON object with scenario, grid, replications and "
                             "seed, as `resilsim sweep` writes)")
        return m

    def run_ids(self) -> list[str]:
        """The run ids the manifest defines, in grid order (point, then replication)."""
        from .sweep import run_id
        m = self.manifest()
        try:
            reps = m["replications"]
            reps = range(*reps) if isinstance(reps, list) else range(int(reps))
            common = bool(m.get("common_seeds", False))
            return [run_id(m["scenario"], p, r, m["seed"], common) for p in m["grid"]["points"] for r in reps]
        except (TypeError, KeyError, ValueError):
            raise StoreError(f"{self.path / MANIFEST}: its grid points or replications are not as "
                             "`resilsim sweep` writes them") from None

    # ------------------------------------------------------------ runs

    def _stored(self) -> tuple[dict, list, list]:
        """This sweep's readable run files ({run_id: rows}), its unreadable ones and the strays (paths)."""
        expected = set(self.run_ids())
        rows, unreadable, strays = {}, [], []
        d = self.path / "runs"
        for p in sorted(d.glob("*.parquet")) if d.exists() else []:
            if p.stem not in expected:
                strays.append(p)
                continue
            df = _read_run(p)
            if df is None:
                unreadable.append(p)
            else:
                rows[p.stem] = df
        return rows, unreadable, strays

    def finished(self) -> set[str]:
        """Run ids of this sweep with a readable stored result that need no rerun.

        Failed runs are left out, so a rerun retries them; so are unreadable run files (cut, empty, or
        not holding their run), with a :class:`StoreWarning` saying they will be run again.
        """
        rows, unreadable, _ = self._stored()
        if unreadable:
            warnings.warn(f"{len(unreadable)} unreadable run files in {self.path / 'runs'} will be run again",
                          StoreWarning, stacklevel=2)
        f = self.path / "failed"
        return set(rows) - ({p.stem for p in f.glob("*.json")} if f.exists() else set())

    def write(self, run_id: str, out: dict) -> None:
        """Store one run's rows (and its timeline / attempts if present), each file atomically."""
        failed = self.path / "failed" / f"{run_id}.json"
        error = out["rows"][0].get("error") if out.get("rows") else ""
        try:
            if error:
                # The marker goes first: a run file without its marker would count as finished.
                failed.parent.mkdir(exist_ok=True)
                self._atomic_bytes(failed, json.dumps({"run_id": run_id, "error": error}).encode())
            for sub, df in (("timelines", out.get("timeline")), ("attempts", out.get("attempts"))):
                if df is not None:
                    self._atomic_parquet(self.path / sub / f"{run_id}.parquet", df)
            # The run file goes last: its presence is what marks the run finished.
            self._atomic_parquet(self.path / "runs" / f"{run_id}.parquet", pd.DataFrame(out["rows"]))
            if not error:
                _unlink(failed)  # a retried run that now succeeded
        except OSError as e:
            raise self._oserror(e) from None

    def load(self) -> pd.DataFrame:
        """One tidy DataFrame of every stored run of this sweep (rows ordered by grid point, replication, strategy).

        Only the run ids the manifest defines are read; other run files (copied in from another sweep)
        and unreadable ones are left out, each kind with a :class:`StoreWarning` naming how many.
        """
        from .sweep import _tidy
        rows, unreadable, strays = self._stored()
        runs = self.path / "runs"
        if strays:
            warnings.warn(f"{runs}: {len(strays)} run files that this sweep's manifest does not define (copied "
                          "from another sweep?) were left out", StoreWarning, stacklevel=2)
        if unreadable:
            warnings.warn(f"{runs}: {len(unreadable)} unreadable run files were left out; rerun the same sweep "
                          "to compute them again", StoreWarning, stacklevel=2)
        if not rows:
            return pd.DataFrame()
        return _tidy(pd.concat(rows.values(), ignore_index=True))

    def timelines(self) -> pd.DataFrame:
        """Every stored (downsampled) timeline of this sweep's runs, with a ``run_id`` column.

        Timelines of other run ids and unreadable files are left out.
        """
        expected = set(self.run_ids())
        frames = []
        for p in sorted((self.path / "timelines").glob("*.parquet")):
            df = _read_parquet(p) if p.stem in expected else None
            if df is not None:
                df.insert(0, "run_id", p.stem)
                frames.append(df)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    # ------------------------------------------------------------ atomic files

    def _atomic_parquet(self, path: Path, df: pd.DataFrame) -> None:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
        os.close(fd)
        try:
            df.to_parquet(tmp, index=False)
            _fsync(tmp)  # else a crash soon after the rename can leave an empty file under the final name
            os.replace(tmp, path)
        except BaseException:
            _unlink(tmp)
            raise

    def _atomic_bytes(self, path: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            _unlink(tmp)
            raise

    def _oserror(self, e: OSError) -> StoreError:
        return StoreError(f"{self.path}: cannot write sweep results ({_why(e)}); "
                          "finished runs already stored are kept")


def _read_parquet(p: Path) -> pd.DataFrame | None:
    try:
        return pd.read_parquet(p)
    except Exception:  # noqa: BLE001 - any parse error of a cut or garbled file means "unreadable"
        return None


def _read_run(p: Path) -> pd.DataFrame | None:
    """The rows of a run file, or None when it is unreadable, empty or holds another run's rows."""
    df = _read_parquet(p)
    if df is None or df.empty or "run_id" not in df or not (df["run_id"] == p.stem).all():
        return None
    return df


def _why(e: OSError) -> str:
    if e.errno == errno.ENOSPC:
        return "the disk is full"
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "it is not writable"
    return e.strerror or str(e)


def _fsync(path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink(p) -> None:
    try:
        os.unlink(p)
    except OSError:
        pass


# ---------------------------------------------------------------- the folder of one run

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
            _fsync(p)
            files[p.name] = {"bytes": p.stat().st_size, "sha256": _sha256(p)}
        (tmp / RUN_META).write_text(json.dumps({**meta, "files": files}, indent=1, default=str))
        _fsync(tmp / RUN_META)
        _fsync(tmp)
    except BaseException as e:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError):
            raise StoreError(f"{out}: cannot write the run's files ({_why(e)}); what the folder held before "
                             "is unchanged") from None
        raise
    names = [*files, RUN_META]
    try:
        if fresh:
            os.rename(tmp, out)
        else:
            previous = set(_listed(out)) | set(owned)
            _unlink(out / RUN_META)
            _fsync(out)
            for name in previous - set(names):
                _unlink(out / name)
            for name in names:  # run.json last
                os.replace(tmp / name, out / name)
            os.rmdir(tmp)
        _fsync(out)
        if fresh:
            _fsync(parent)
    except OSError as e:
        raise StoreError(f"{out}: cannot move the run's files into place ({_why(e)}); the folder is incomplete "
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
        if p.stat().st_size != info.get("bytes") or _sha256(p) != info.get("sha256"):
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


def _sha256(p: Path) -> str:
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
