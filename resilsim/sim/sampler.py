"""A sampler of the service's state: queue length and busy workers once per timeline bin.

One :class:`~resilsim.sim.events.Tick` per bin (not per attempt), so it costs
``duration / bin`` events per run whatever the load.
"""
from __future__ import annotations

import numpy as np

from .events import PRIORITY, Tick


class Sampler:
    """Reads ``service.queue_length`` and ``service.in_service`` at ``0, bin, 2·bin, …`` up to ``until`` seconds.

    ``queue`` and ``busy`` are numpy arrays, one value per bin (the state at
    the bin's start; NaN for bins the run never reached).
    """

    def __init__(self, env, service, *, bin: float, until: float):
        self.env = env
        self.service = service
        self.bin = float(bin)
        self.nbins = int(np.ceil(until / bin))
        self.queue = np.full(self.nbins, np.nan)
        self.busy = np.full(self.nbins, np.nan)
        self._k = 0
        self._tick = Tick()
        self._cbs = [self._sample]
        self.extra: dict = {}   # name → one value per bin, from watch()
        self._probe = None

    def watch(self, names: list[str], probe) -> None:
        """Also record ``probe(now)`` (a tuple of floats, one per name in ``names``) at each bin's start."""
        self.extra = {n: np.full(self.nbins, np.nan) for n in names}
        self._probe = (list(self.extra.values()), probe)

    def start(self) -> None:
        """Take the first sample at time 0 and schedule the rest."""
        self._tick.callbacks = self._cbs
        self.env.schedule(self._tick, PRIORITY, 0.0)

    def _sample(self, tick) -> None:
        k = self._k
        svc = self.service
        self.queue[k] = svc.queue_length
        self.busy[k] = svc.in_service
        if self._probe is not None:
            cols, probe = self._probe
            for col, v in zip(cols, probe(self.env._now)):
                col[k] = v
        self._k = k + 1
        if self._k < self.nbins:
            tick.callbacks = self._cbs
            self.env.schedule(tick, PRIORITY, self._k * self.bin - self.env._now)

    def samples(self) -> "Samples":
        """What was sampled, without the environment and service (which cannot leave a worker process)."""
        return Samples(self.bin, self.nbins, self.queue, self.busy, self.extra)


class Samples:
    """A finished :class:`Sampler`'s arrays (same attributes, same arrays): what a worker process sends back."""

    __slots__ = ("bin", "nbins", "queue", "busy", "extra")

    def __init__(self, bin: float, nbins: int, queue, busy, extra: dict):
        self.bin, self.nbins, self.queue, self.busy, self.extra = bin, nbins, queue, busy, extra

    def __getstate__(self):
        return (self.bin, self.nbins, self.queue, self.busy, self.extra)

    def __setstate__(self, state):
        self.bin, self.nbins, self.queue, self.busy, self.extra = state
