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

The folder of one ``resilsim run`` is another thing: :mod:`resilsim.run_folder`.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import threading
import warnings
from pathlib import Path

import pandas as pd

from ..errors import StoreError, StoreWarning
from ..files import atomic_bytes, atomic_parquet, unlink_quietly, why
from .tasks import run_id, tidy

MANIFEST = "manifest.json"
FORMAT = 3
#: What each results format changed, in words (the refusal to resume an older store names every change since).
CHANGES = {2: "outcome names changed",
           3: "rows gained per-service svc.NAME.METRIC columns, utilisation among them"}


#: Stores locked by this process: POSIX locks do not exclude two threads of one process, this set does.
_HELD: set = set()
_HELD_GUARD = threading.Lock()


class Store:
    """A sweep's results directory (see the module docstring for the layout)."""

    def __init__(self, path):
        self.path = Path(path)
        self._lock = None
        #: The run files this object wrote, as Arrow tables ({run_id: table}): :meth:`load` at the end of a sweep
        #: takes them from here rather than reading them back (see :func:`_frames`).
        self._written: dict = {}

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
                if old.get("format") != FORMAT:
                    # Resuming would mix rows of two formats in one sweep (e.g. some with svc.* columns, some
                    # without), which nothing downstream can tell apart.
                    was = old.get("format")
                    since = [c for v, c in CHANGES.items() if not isinstance(was, int) or v > was] or ["unknown"]
                    raise StoreError(
                        f"{self.path}: holds results an earlier resilsim wrote (results format {was}, now {FORMAT}: "
                        f"{'; '.join(since)}), and resuming would mix rows of both; use a new --out directory, "
                        "or delete this one to start again")
                if old != definition:
                    diff = sorted(k for k in set(old) | set(definition) if old.get(k) != definition.get(k))
                    raise StoreError(
                        f"{self.path}: holds results of a different sweep (its {', '.join(diff)} differ); "
                        "use a new --out directory, or delete this one to start again")
                return
            for sub in ("runs", "timelines", "attempts"):
                (self.path / sub).mkdir(parents=True, exist_ok=True)
            atomic_bytes(m, json.dumps(definition, indent=1, sort_keys=True).encode())
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
        m = self.manifest()
        try:
            reps = m["replications"]
            reps = range(*reps) if isinstance(reps, list) else range(int(reps))
            common = bool(m.get("common_seeds", False))
            return [run_id(m["scenario"], p, r, m["seed"], common, m.get("window")) for p in m["grid"]["points"]
                    for r in reps]
        except (TypeError, KeyError, ValueError):
            raise StoreError(f"{self.path / MANIFEST}: its grid points or replications are not as "
                             "`resilsim sweep` writes them") from None

    # ------------------------------------------------------------ runs

    def _stored(self) -> tuple[dict, list, list]:
        """This sweep's readable run files ({run_id: (path, Arrow table)}), its unreadable ones and the strays
        (paths)."""
        expected = set(self.run_ids())
        rows, unreadable, strays = {}, [], []
        d = self.path / "runs"
        for p in sorted(d.glob("*.parquet")) if d.exists() else []:
            if p.stem not in expected:
                strays.append(p)
                continue
            # A run file this object wrote is the table it holds (the directory is locked while it writes):
            # reading it back would give the same table, at ~1.2 ms a run of serial time at a sweep's end.
            table = self._written.get(p.stem)
            table = _read_run(p) if table is None else table
            if table is None:
                unreadable.append(p)
            else:
                rows[p.stem] = (p, table)
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
                atomic_bytes(failed, json.dumps({"run_id": run_id, "error": error}).encode())
            for sub, df in (("timelines", out.get("timeline")), ("attempts", out.get("attempts"))):
                if df is not None:
                    atomic_parquet(self.path / sub / f"{run_id}.parquet", df)
            # The run file goes last: its presence is what marks the run finished.
            table = _table(pd.DataFrame(out["rows"]))
            atomic_parquet(self.path / "runs" / f"{run_id}.parquet", table)
            self._written[run_id] = table
            if not error:
                unlink_quietly(failed)  # a retried run that now succeeded
        except OSError as e:
            raise self._oserror(e) from None

    def load(self) -> pd.DataFrame:
        """One tidy DataFrame of every stored run of this sweep (rows ordered by grid point, replication, strategy).

        Only the run ids the manifest defines are read; other run files (copied in from another sweep)
        and unreadable ones are left out, each kind with a :class:`StoreWarning` naming how many.
        """
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
        return tidy(_frames(list(rows.values())))

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

    def _oserror(self, e: OSError) -> StoreError:
        return StoreError(f"{self.path}: cannot write sweep results ({why(e)}); "
                          "finished runs already stored are kept")


def _read_parquet(p: Path) -> pd.DataFrame | None:
    try:
        return pd.read_parquet(p)
    except Exception:  # noqa: BLE001 - any parse error of a cut or garbled file means "unreadable"
        return None


def _table(rows: pd.DataFrame):
    """The Arrow table ``rows.to_parquet(path, index=False)`` writes (the same bytes once written)."""
    import pyarrow as pa
    return pa.Table.from_pandas(rows, preserve_index=False)


def _read_run(p: Path):
    """The rows of a run file as an Arrow table (as ``pd.read_parquet`` reads it, before it becomes a DataFrame),
    or None when it is unreadable, empty or holds another run's rows."""
    import pyarrow.parquet as pq
    try:
        table = pq.read_table(p, use_pandas_metadata=True)
        table.schema.pandas_metadata  # noqa: B018 - garbled pandas metadata: unreadable, as pd.read_parquet finds it
    except Exception:  # noqa: BLE001 - any parse error of a cut or garbled file means "unreadable"
        return None
    if table.num_rows == 0 or "run_id" not in table.column_names \
            or set(table.column("run_id").to_pylist()) != {p.stem}:
        return None
    return table


def _frames(stored: list) -> pd.DataFrame:
    """One DataFrame of the stored runs' rows (``stored``: (path, Arrow table) pairs), the same as ``pd.concat`` of
    each file's ``pd.read_parquet``.

    Why not simply that: at the end of a sweep of short runs this is serial time with every worker idle, and
    converting each run's few rows to pandas on its own cost about 2.3 ms per run (55 ms for 24 runs, ~2 % of the
    sweep); runs whose files share one schema (every run that succeeded, the usual case) are joined as Arrow tables
    and converted once (~1.2 ms per run). Files of several schemas (failed runs' rows, columns absent from some
    runs) keep the general path: pandas' concat fills the missing columns its own way.
    """
    import pyarrow as pa
    tables = [t for _, t in stored]
    schema = tables[0].schema
    if all(t.schema.equals(schema, check_metadata=True) for t in tables) \
            and b"PANDAS_ATTRS" not in (schema.metadata or {}) \
            and not any(pa.types.is_timestamp(f.type) for f in schema):  # pandas adjusts these after reading
        return tables[0].to_pandas() if len(tables) == 1 else pa.concat_tables(tables).to_pandas()
    return pd.concat([pd.read_parquet(p) for p, _ in stored], ignore_index=True)


def load_sweep(path) -> pd.DataFrame:
    """One tidy DataFrame of every finished run stored in the results directory ``path``."""
    return Store(path).load()
