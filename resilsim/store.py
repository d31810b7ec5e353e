"""The results directory of a sweep: one Parquet file per finished run, plus a manifest.

Layout::

    DIR/manifest.json            the sweep's definition (scenario, grid, replications, seed)
    DIR/runs/<run_id>.parquet    the summary rows of one run (one per strategy, or one error row)
    DIR/timelines/<run_id>.parquet  its (downsampled) per-second series
    DIR/attempts/<run_id>.parquet   its attempt rows, only when asked
    DIR/failed/<run_id>.json     a run that raised: its error (its error row is in runs/ too)

Every file is written to a temporary name and moved into place with
``os.replace`` (atomic on POSIX), so a run killed mid-write leaves no corrupt
file; a rerun skips the run ids already present and computes the rest, failed
runs included (a failure may be transient: a lost worker, memory).
Only JSON and Parquet are read back: nothing is unpickled or evaluated.
"""
from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path

import pandas as pd

from .errors import ResilsimError

MANIFEST = "manifest.json"
FORMAT = 1


class StoreError(ResilsimError):
    """A results directory that cannot be used: unwritable, full, or holding another sweep."""


class Store:
    """A sweep's results directory (see the module docstring for the layout)."""

    def __init__(self, path):
        self.path = Path(path)

    # ------------------------------------------------------------ manifest

    def open(self, definition: dict) -> None:
        """Create the directory and manifest, or check that an existing one holds the same definition."""
        definition = json.loads(json.dumps({"format": FORMAT, **definition}, default=str, sort_keys=True))
        m = self.path / MANIFEST
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
            raise self._oserror(e) from None

    def manifest(self) -> dict:
        """The stored sweep definition."""
        try:
            return json.loads((self.path / MANIFEST).read_text())
        except FileNotFoundError:
            raise StoreError(f"{self.path}: not a sweep results directory (no {MANIFEST})") from None
        except ValueError as e:
            raise StoreError(f"{self.path / MANIFEST}: is not valid JSON ({e})") from None

    # ------------------------------------------------------------ runs

    def finished(self) -> set[str]:
        """Run ids with a stored result that need no rerun: failed runs are left out, so a rerun retries them."""
        d = self.path / "runs"
        done = {p.stem for p in d.glob("*.parquet")} if d.exists() else set()
        f = self.path / "failed"
        return done - {p.stem for p in f.glob("*.json")} if f.exists() else done

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
        """One tidy DataFrame of every stored run (rows ordered by grid point, replication, strategy)."""
        from .sweep import _tidy
        self.manifest()
        files = sorted((self.path / "runs").glob("*.parquet"))
        if not files:
            return pd.DataFrame()
        return _tidy(pd.concat([pd.read_parquet(p) for p in files], ignore_index=True))

    def timelines(self) -> pd.DataFrame:
        """Every stored (downsampled) timeline, with a ``run_id`` column."""
        frames = []
        for p in sorted((self.path / "timelines").glob("*.parquet")):
            df = pd.read_parquet(p)
            df.insert(0, "run_id", p.stem)
            frames.append(df)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    # ------------------------------------------------------------ atomic files

    def _atomic_parquet(self, path: Path, df: pd.DataFrame) -> None:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
        os.close(fd)
        try:
            df.to_parquet(tmp, index=False)
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
        if e.errno == errno.ENOSPC:
            why = "the disk is full"
        elif e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            why = "it is not writable"
        else:
            why = e.strerror or str(e)
        return StoreError(f"{self.path}: cannot write sweep results ({why}); finished runs already stored are kept")


def _unlink(p) -> None:
    try:
        os.unlink(p)
    except OSError:
        pass
