"""Worker processes: the one pool pattern resilsim uses (sweeps, the explorer, ``simulate(processes=...)``).

:func:`init_worker` and :func:`pool_size` are how every local pool of the package starts its processes and
sizes itself (``resilsim.sweep.run`` and ``resilsim.widgets`` import them from here). :func:`run_side_by_side`
runs the strategies of one ``simulate()`` call in such a pool: each worker runs whole strategies on the same
root seed as the serial loop, so the records, and the tables built from them, are the same bytes.
"""
from __future__ import annotations

import os
import queue
import signal
import threading
import time

from ..cpu import cpu_sample

#: The thread-count variables of the BLAS and OpenMP libraries numpy may load: one thread per worker process.
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")

#: Seconds between a pool worker's looks at its parent process.
PARENT_CHECK_S = 1.0


def init_worker():
    """Worker-process start-up: one BLAS thread each (the pool has a process per core), and a watch on the
    parent: a worker whose parent died (killed with SIGKILL, so it could not shut its pool down) exits
    instead of waiting for work for ever."""
    for v in THREAD_VARS:
        os.environ[v] = "1"
    parent = os.getppid()

    def watch():
        while True:
            time.sleep(PARENT_CHECK_S)
            if os.getppid() != parent:  # re-parented: the process that started this one is gone
                os._exit(1)

    threading.Thread(target=watch, name="resilsim-parent-watch", daemon=True).start()


def _init_strategy_worker():
    # As init_worker, and Ctrl-C is the parent's to handle: it ends the workers itself (run_side_by_side), so a
    # worker does not print a KeyboardInterrupt traceback of its own beside the CLI's "interrupted".
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    init_worker()


def pool_size(workers: int | None, tasks: int, force: bool = False) -> int:
    """Worker processes for ``tasks`` runs: ``workers`` (default: every core), at most one per task and, unless
    ``force``, one per core (more processes than cores only share them, each with its own memory)."""
    cores = os.cpu_count() or 1
    n = workers or cores
    return max(1, min(n, tasks) if force else min(n, tasks, cores))


#: Shortest window (seconds) over which :func:`idle_cores` trusts ``/proc/stat``: jiffies are 10 ms, so a shorter
#: one would be mostly rounding; below it the 1-minute load average decides.
MIN_WINDOW_S = 0.1


def idle_cores(since=None, now=None) -> int:
    """Cores no other work is using, about (at least 1): ``resilsim run``'s default for its worker processes and
    its forked chart process. On a machine whose cores other work keeps busy, more processes only take turns with
    it and each pays its own start (benchmarks/RESULTS.md, 2026-12-03 14:10).

    ``since``: a :func:`resilsim.cpu.cpu_sample` taken a while ago (``resilsim run`` takes it before it imports and loads the
    scenario, about 0.3-0.6 s): the cores are counted less those other processes kept busy *since then* (all
    busy time less this process's own). Without it, or where the window is shorter than :data:`MIN_WINDOW_S`,
    the cores less the 1-minute load average. Why a window: the load average remembers the last minute, so a
    command run just after other work (a benchmark's previous round, the user's previous run) found its cores
    "busy" for up to a minute after they fell idle and ran serially. ``now``: the second sample (tests)."""
    cores = os.cpu_count() or 1
    busy = None  # cores' worth of other processes' work
    if since is not None and (now := now if now is not None else cpu_sample()) is not None:
        total, idle = now[0] - since[0], now[1] - since[1]
        own = (now[2] - since[2]) * os.sysconf("SC_CLK_TCK")  # this process's seconds, in jiffies
        if total >= MIN_WINDOW_S * os.sysconf("SC_CLK_TCK") * cores:
            busy = cores * max(0.0, total - idle - own) / total
    if busy is None:
        try:
            busy = os.getloadavg()[0]
        except (AttributeError, OSError):  # no load average on this platform: every core counts as idle
            busy = 0.0
    return max(1, min(cores, int(cores - busy + 0.5)))


def _work_through(task, jobs: list, conn) -> None:
    # A worker process of run_side_by_side: its share of the jobs, each answer sent back as (index, ok, value).
    # Sent by a thread: a send blocks until the parent reads the pipe, which it does only once its `meanwhile`
    # (resilsim run's imports, 0.5-0.9 s) has returned; the next job is computed meanwhile instead of waiting.
    # (A 60 s run's second strategy started 0.6 s late with the send in line, 2026-12-03, benchmarks/run_phases.py.)
    # At most one answer waits behind the one being sent: a worker holds three records at the most (being sent,
    # waiting, being computed), not all of its share, however long the parent takes to read.
    _init_strategy_worker()
    answers = queue.Queue(maxsize=1)
    sender = threading.Thread(target=_send_answers, args=(answers, conn), name="resilsim-answers")
    sender.start()
    try:
        for i, job in jobs:
            try:
                answer = (i, True, task(*job))
            except Exception as e:  # noqa: BLE001 - sent to the caller, which raises it
                _hand_over(answers, (i, False, e), sender)
                return
            if not _hand_over(answers, answer, sender):
                return  # the sender stopped at an answer it could not send: the jobs left are not wanted
    finally:
        _hand_over(answers, None, sender)
        sender.join()
        conn.close()


def _hand_over(answers, answer, sender) -> bool:
    # Queue ``answer`` for the sending thread; False if that thread has stopped (it takes nothing more after a
    # failure, so a plain put could wait on a full queue for ever).
    while sender.is_alive():
        try:
            answers.put(answer, timeout=0.05)
            return True
        except queue.Full:
            pass
    return False


def _send_answers(answers, conn) -> None:
    # The sending thread of _work_through: answers in the order they were put, until None or the first failure.
    while (answer := answers.get()) is not None:
        try:
            conn.send(answer)  # pickled here (a few ms for a strategy's record), then written with the GIL released
        except Exception as e:  # noqa: BLE001 - an answer that does not pickle: the caller raises the error
            if not answer[1]:  # the job's own error would not pickle: say what it was
                e = RuntimeError(f"{type(answer[2]).__name__}: {answer[2]}")
            try:
                conn.send((answer[0], False, e))
            except OSError:  # the parent is gone (its end closed): nobody is left to tell
                pass
            return
        if not answer[1]:
            return


def run_side_by_side(task, jobs: list, processes: int, meanwhile=None) -> list:
    """``[task(*job) for job in jobs]``, computed in ``processes`` worker processes (at least 2); in ``jobs``' order.

    The workers are forked when the jobs are handed out, before ``meanwhile()`` (if given) runs here: the
    caller's chance to import what it needs next (pandas, pyarrow, matplotlib: pyarrow starts threads, which a
    fork must not copy) while the workers compute. The first error a job raises is raised here, after the
    workers are ended; so is a KeyboardInterrupt (the workers ignore Ctrl-C; this process ends them).
    ``task`` and each job's values must pickle; ``task`` is a module-level function.

    Plain processes, each with its share of the jobs (every ``processes``-th) and a pipe of its own: no queue or
    lock is shared, so ending a worker at any moment cannot leave one held. (A ``ProcessPoolExecutor`` hung at
    its shutdown about 1 time in 6 when its processes were ended; a ``multiprocessing.Pool`` hung in a test run,
    its workers gone and a job's answer never coming.)
    """
    import multiprocessing
    import sys
    from multiprocessing.connection import wait

    # fork where the platform has it: a worker starts in milliseconds with the parent's modules (resilsim.sim and
    # numpy; simulate() imports nothing that starts threads before this point). Elsewhere spawn, the default.
    ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
    for stream in (sys.stdout, sys.stderr):  # else a forked worker would write the parent's buffered lines again
        stream.flush()
    shares = [list(enumerate(jobs))[k::processes] for k in range(processes)]
    procs, conns, owed = [], [], {}  # owed: answers still to come through each worker's pipe
    out = [None] * len(jobs)
    try:
        for share in shares:
            if not share:
                continue
            here, there = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_work_through, args=(task, share, there), daemon=True)
            proc.start()
            there.close()  # the worker's end: once every worker's is closed, a dead worker shows as end of file
            procs.append(proc)
            conns.append(here)
            owed[here] = len(share)
        if meanwhile is not None:
            meanwhile()
        while owed:
            for conn in wait(list(owed)):
                try:
                    i, ok, value = conn.recv()
                except EOFError:  # the worker ended without answering all its jobs (killed, or crashed)
                    raise RuntimeError("a worker process ended before it had simulated its strategies") from None
                if not ok:
                    raise value
                out[i] = value
                owed[conn] -= 1
                if not owed[conn]:
                    del owed[conn]
    except BaseException:  # an error or Ctrl-C: the other jobs' results are not wanted, end the workers now
        for proc in procs:
            proc.kill()
        raise
    finally:
        for proc in procs:
            proc.join()
        for conn in conns:
            conn.close()
    return out
