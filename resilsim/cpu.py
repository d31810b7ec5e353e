"""The machine's CPU counters, read cheaply: how ``resilsim run`` tells idle cores from busy ones.

Bottom layer (imports nothing of resilsim), so that the command can take its first reading before it imports
anything heavy: :func:`resilsim.sim.workers.idle_cores` compares it with a second one.
"""
from __future__ import annotations

import time


def cpu_sample():
    """A reading of the machine's CPU counters, to pass to :func:`resilsim.sim.workers.idle_cores` later: (all cores' jiffies, their
    idle jiffies, this process's CPU seconds); None where ``/proc/stat`` cannot be read (not Linux)."""
    try:
        with open("/proc/stat", "rb") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if len(fields) < 9 or fields[0] != b"cpu":
        return None
    # user nice system idle iowait irq softirq steal, in jiffies (guest time is already counted in user)
    ticks = [int(v) for v in fields[1:9]]
    return sum(ticks), ticks[3] + ticks[4], time.process_time()
