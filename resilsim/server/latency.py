"""Service-time distributions of operations (seconds), sampled in blocks."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..rng import BlockSampler

#: z-score of the 99th percentile of a standard normal.
Z99 = 2.3263478740408408


@dataclass(frozen=True)
class Exponential:
    """Exponential service time with ``mean`` seconds."""

    mean: float

    def sampler(self, gen: np.random.Generator) -> BlockSampler:
        """A block sampler of this distribution on ``gen``."""
        return BlockSampler(lambda n: gen.exponential(self.mean, n))


@dataclass(frozen=True)
class LogNormal:
    """Log-normal service time with ``median`` seconds and ``sigma`` of the log."""

    median: float
    sigma: float

    @classmethod
    def from_p99(cls, median: float, p99: float) -> "LogNormal":
        """The log-normal with this median and 99th percentile (seconds)."""
        return cls(median, (math.log(p99) - math.log(median)) / Z99)

    @property
    def mean(self) -> float:
        return self.median * math.exp(self.sigma ** 2 / 2)

    def sampler(self, gen: np.random.Generator) -> BlockSampler:
        mu = math.log(self.median)
        return BlockSampler(lambda n: gen.lognormal(mu, self.sigma, n))


@dataclass(frozen=True)
class Constant:
    """A fixed service time of ``value`` seconds."""

    value: float

    @property
    def mean(self) -> float:
        return self.value

    def sampler(self, gen: np.random.Generator) -> BlockSampler:
        return BlockSampler(lambda n: np.full(n, self.value))


@dataclass(frozen=True)
class Mixture:
    """``value`` seconds with probability ``1 − p_slow``, else ``slow`` seconds (bimodal service)."""

    value: float
    slow: float
    p_slow: float

    @property
    def mean(self) -> float:
        return self.value * (1 - self.p_slow) + self.slow * self.p_slow

    def sampler(self, gen: np.random.Generator) -> BlockSampler:
        return BlockSampler(lambda n: np.where(gen.random(n) < self.p_slow, self.slow, self.value))
