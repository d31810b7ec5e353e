"""``resilsim run``'s charts drawn in worker processes while the main process writes the tables.

Two ways: :class:`ChartPool` (spawned workers, from 4 cores) and :class:`ForkedCharts` (one forked process
drawing the charts beside the main process, which joins in once the tables are written, on 2 and 3 cores).

:class:`ChartPool` starts its workers (spawned) before the simulation, so that they import matplotlib and
draw a first picture while it runs; each chart is then sent only the data it draws (:func:`chart_data`, a few
MB at most, through the pool's pipe) and written by a worker as :func:`resilsim.plots.save_charts` would
write it (the same bytes; tests/test_plots.py).
"""
from __future__ import annotations

from .errors import worker_ended
from .plots import PNG_LEVEL, chart_figure, run_charts
from .result import Result


def chart_data(result, name: str):
    """What the run chart ``name`` draws from ``result``, and nothing else: a small :class:`ChartData` to send to a
    worker process, from which :func:`chart_figure` draws the same picture as from ``result`` itself.

    The requests keep only the successful ones (the latency charts draw nothing else) and the columns drawn;
    the attempts only the failed ones (the errors chart); the outcome counts, the summary and the services
    tables are computed here, once. Tests compare the PNGs drawn both ways byte for byte.
    """
    requests = attempts = counts = summary = None
    if name in ("latency_cdf", "latency_bands"):
        req = result.requests
        requests = req.loc[req["outcome"] == "success", ["strategy", "outcome", "start", "latency"]]
    elif name == "errors_over_time":
        att = result.attempts
        attempts = att.loc[att["code"] != "", ["strategy", "start", "code"]]
    elif name == "outcomes_by_strategy":
        counts, summary = result.outcome_counts(), result.summary()
    layers = result.service_timeline() if name == "load_by_layer" else None
    return ChartData(result.scenario, result.seed, requests=requests, attempts=attempts, timeline=result.timeline,
                     windows=list(result.windows), strategies=dict(result.strategies), counts=counts,
                     summary=summary, services=result.services(), layers=layers,
                     record=getattr(result, "record", "full"))


class ChartData(Result):
    """A :class:`resilsim.Result` cut down to what one run chart draws (see :func:`chart_data`)."""

    def __init__(self, scenario, seed, *, counts, summary, services, layers, record, **tables):
        super().__init__(scenario, seed, **tables)
        self._counts, self._summary, self._services, self._layers = counts, summary, services, layers
        self.record = record

    def outcome_counts(self):
        """The measured requests' outcome counts, as the run's :meth:`~resilsim.Result.outcome_counts` gave them."""
        return self._counts

    def summary(self, window=None):
        """The run's summary over its measurement window (the only one a run chart shows)."""
        if window is not None or self._summary is None:
            raise ValueError("a chart's data holds the summary of the measurement window only")
        return self._summary

    def services(self):
        """The run's per-service table (empty without services)."""
        return self._services

    def service_timeline(self):
        """The run's attempts per second per layer (only for the load_by_layer chart)."""
        return self._layers


def warm_up() -> None:
    """Import what drawing needs and draw once (fonts, Agg): a chart worker's start, and ``resilsim run``'s while
    the run simulates in worker processes (a process forked after it inherits the loaded fonts)."""
    import io

    from matplotlib.figure import Figure

    fig = Figure(figsize=(1, 1), dpi=110)
    fig.add_subplot().set_title("warm")
    fig.savefig(io.BytesIO(), format="png")


def _save_one(name: str, data, path: str) -> str:
    """Draw the run chart ``name`` from ``data`` (a :class:`ChartData`) into the PNG ``path``, in a worker."""
    import matplotlib

    with matplotlib.rc_context({"figure.dpi": 110}):
        chart_figure(data, name).savefig(path, pil_kwargs={"compress_level": PNG_LEVEL})
    return path



#: Cores from which ``resilsim run`` draws its charts in worker processes by default (fewer: in its own process).
#: On the 2-core machine of benchmarks/RESULTS.md, shared with other work, the workers only took turns with
#: the simulation and the tables, and the command was slower.
POOL_CORES = 4


def pool_workers(requested: int | None = None) -> int:
    """Chart worker processes for ``resilsim run --chart-workers``: ``requested``, or by default 2 on a machine
    with :data:`POOL_CORES` cores or more and 0 (draw in the main process) on a smaller one."""
    import os

    if requested is not None:
        return requested
    return 2 if (os.cpu_count() or 1) >= POOL_CORES else 0


#: Relative drawing cost of each run chart (CPU seconds ×10 on the aurora scenario, 4 strategies): the order in
#: which charts are handed out (:func:`drawing_order`), the costliest first, so that the last to start is short.
_COST = {"latency_cdf": 4, "latency_bands": 3.5, "errors_over_time": 2, "success_over_time": 2,
         "load_over_time": 1.5, "outcomes_by_strategy": 1.5, "guards_over_time": 2, "load_by_layer": 2}


def drawing_order(names: list) -> list:
    """``names`` in the order charts are handed out to the processes that draw them: the costliest first (ties in
    the given order), so that whichever process takes the last one is not left drawing long after the other."""
    return sorted(names, key=lambda n: -_COST.get(n, 2))


def fork_helper(requested: int | None, idle: int) -> bool:
    """Whether ``resilsim run`` forks one process that starts on the charts while it writes the tables, both then
    drawing those left (:class:`ForkedCharts`): by default on 2 and 3 cores (from 4: :class:`ChartPool`) when 2 of
    them are idle (``idle``, from :func:`resilsim.sim.workers.idle_cores`: on cores other work keeps busy it
    only took turns and cost more, benchmarks/RESULTS.md), where the platform can fork; never with
    ``--chart-workers`` given (``requested``)."""
    import multiprocessing
    import os

    return (requested is None and 2 <= (os.cpu_count() or 1) < POOL_CORES
            and "fork" in multiprocessing.get_all_start_methods() and idle >= 2)


def _draw_forked(result, take: "ChartsLeft", out: str, conn) -> None:
    # The forked process: Ctrl-C is the parent's (it ends this one); the charts it drew, or its first error, go back
    # through the pipe.
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        conn.send(_draw_taken(result, take, out))
    except BaseException as e:  # noqa: BLE001 - sent to the parent, which raises it
        conn.send(e)
    finally:
        conn.close()


def _draw_taken(result, take: "ChartsLeft", out) -> list:
    drawn = []
    while (name := take()) is not None:
        _save_one(name, result, f"{out}/{name}.png")
        drawn.append(name)
    return drawn


class ChartsLeft:
    """The charts still to draw, shared by this process and a forked one: each takes the next when it is free.

    A pipe holds one byte per chart (its index in ``names``, in :func:`drawing_order`), written and closed before
    the fork; a one-byte read from a pipe is whole and goes to one reader, so each chart is drawn once, by
    whichever process asks first, and a process that finds the pipe empty is done. (Split in advance, by guessed
    costs, this process wrote the tables and drew its share up to 0.2 s after the other had finished, on aurora;
    nothing is locked, so a process killed at any moment cannot leave the other waiting.) Call it for the next
    name (None: none left); :meth:`close` the read end when done.
    """

    def __init__(self, names: list):
        import os

        if len(names) > 256:
            raise ValueError("at most 256 charts are shared through one pipe")
        self._names = drawing_order(list(names))
        self._fd, w = os.pipe()
        try:
            os.write(w, bytes(range(len(self._names))))  # a few bytes: far under a pipe's buffer, never blocks
        finally:
            os.close(w)

    def __call__(self):
        import os

        b = os.read(self._fd, 1)
        return self._names[b[0]] if b else None

    def close(self) -> None:
        import os

        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class ForkedCharts:
    """A run's charts drawn by one forked process and this one together, while this one writes the tables first.

    Forked, not spawned: the process starts in milliseconds with matplotlib already imported and the result
    already in its memory (nothing pickled). Fork it before anything starts threads it could copy: pyarrow's
    pools start with the first table written (``resilsim run`` forks just before). ``result``: the run;
    ``out``: the folder; ``names``: the charts to draw. The forked process starts on them at once; this one joins
    in with :meth:`draw_rest` when it is free (:class:`ChartsLeft`). :meth:`wait` raises the process's error;
    :meth:`close` ends it if it still runs.
    """

    def __init__(self, result, out, names: list):
        import multiprocessing
        import sys

        for stream in (sys.stdout, sys.stderr):  # else the child would write the parent's buffered lines again
            stream.flush()
        self._out = str(out)
        self._take = ChartsLeft(names)
        ctx = multiprocessing.get_context("fork")
        self._conn, child = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_draw_forked, args=(result, self._take, self._out, child), daemon=True)
        try:
            self._proc.start()
        except BaseException:  # no process (out of memory, too many processes): nothing of it left open
            self._conn.close()
            self._take.close()
            raise
        finally:
            child.close()

    def draw_rest(self, result) -> list:
        """Draw here the charts the forked process has not taken, one at a time until none is left; their names."""
        return _draw_taken(result, self._take, self._out)

    def wait(self) -> list:
        """Wait until the forked process has drawn its charts; their names. Raise its error if it had one."""
        try:
            answer = self._conn.recv()
        except EOFError:  # it died without a word (killed)
            self._proc.join()
            raise ChartWorkerError(worker_ended("the forked chart process", f"with exit status {self._proc.exitcode} "
                                                "before it had drawn its charts")) from None
        self._proc.join()
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def close(self) -> None:
        """End the process if it still runs (an error or Ctrl-C here)."""
        if self._proc.is_alive():
            self._proc.terminate()
        self._proc.join()
        self._conn.close()
        self._take.close()


class ChartWorkerError(RuntimeError):
    """A chart process (:class:`ChartPool`'s worker, or :class:`ForkedCharts`' forked one) ended without drawing its
    charts (killed, out of memory)."""


class ChartPool:
    """Worker processes that draw a run's charts beside the main process (``resilsim run``).

    Started before the simulation, the workers import matplotlib and draw a first picture while it runs;
    :meth:`submit` then hands each chart only what it draws (:func:`chart_data`) and returns at once, so the
    tables are written while the charts are drawn. Workers are spawned, not forked: the parent runs pyarrow's
    and numpy's threads by then. ``workers``: processes (at least 1). Use as a context manager, or call
    :meth:`close`.
    """

    def __init__(self, workers: int = 2):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        n = workers
        self._pool = ProcessPoolExecutor(max_workers=max(1, n), mp_context=multiprocessing.get_context("spawn"),
                                         initializer=warm_up)
        for _ in range(max(1, n)):  # start every worker now (a spawning pool starts one per task waiting)
            self._pool.submit(int)

    def submit(self, result, out) -> list:
        """Start drawing ``result``'s charts (:func:`save_charts`' set) into the folder ``out``; return a list
        of (path, future), in :func:`save_charts`' order."""
        from pathlib import Path

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        from concurrent.futures.process import BrokenProcessPool

        names = [name for name, _ in run_charts(result)]
        futures = {}
        for name in drawing_order(names):  # the costliest first: the last to start is short
            try:
                futures[name] = self._pool.submit(_save_one, name, chart_data(result, name), str(out / f"{name}.png"))
            except BrokenProcessPool:  # a worker died while it warmed up
                raise ChartWorkerError(worker_ended("a chart worker process", f"before drawing {name}.png")) from None
        return [(out / f"{name}.png", futures[name]) for name in names]

    @staticmethod
    def wait(jobs: list) -> list:
        """The paths of ``jobs`` (from :meth:`submit`) once every chart is written; a chart's error raised here, and
        :class:`ChartWorkerError` if a worker process died (the executor then fails every chart not done: no hang)."""
        from concurrent.futures.process import BrokenProcessPool

        for path, future in jobs:
            try:
                future.result()
            except BrokenProcessPool:
                raise ChartWorkerError(worker_ended("a chart worker process", f"without drawing {path.name}")) from None
        return [path for path, _ in jobs]

    def close(self) -> None:
        """End the workers (charts not started are dropped)."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
