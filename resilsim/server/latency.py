"""Service-time distributions of operations (seconds), sampled in blocks."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..rng import block_sampler

#: z-score of the 99th percentile of a standard normal.
Z99 = 2.3263478740408408


@dataclass(frozen=True)
class Exponential:
    """Exponential service time with ``mean`` seconds."""

    mean: float

    def sampler(self, gen: np.random.Generator) -> Callable[[], float]:
        """A block sampler of this distribution on ``gen``."""
        return block_sampler(lambda n: gen.exponential(self.mean, n))


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

    def sampler(self, gen: np.random.Generator) -> Callable[[], float]:
        mu = math.log(self.median)
        return block_sampler(lambda n: gen.lognormal(mu, self.sigma, n))


@dataclass(frozen=True)
class Constant:
    """A fixed service time of ``value`` seconds."""

    value: float

    @property
    def mean(self) -> float:
        return self.value

    def sampler(self, gen: np.random.Generator) -> Callable[[], float]:
        return block_sampler(lambda n: np.full(n, self.value))


@dataclass(frozen=True)
class Mixture:
    """``value`` seconds with probability ``1 − p_slow``, else ``slow`` seconds (bimodal service)."""

    value: float
    slow: float
    p_slow: float

    @property
    def mean(self) -> float:
        return self.value * (1 - self.p_slow) + self.slow * self.p_slow

    def sampler(self, gen: np.random.Generator) -> Callable[[], float]:
        return block_sampler(lambda n: np.where(gen.random(n) < self.p_slow, self.slow, self.value))


@dataclass(frozen=True)
class Normal:
    """Normal service time with ``mean`` and ``sd`` seconds; a draw below 0 counts as 0 (a zero service time)."""

    mu: float
    sd: float

    @property
    def mean(self) -> float:
        # E[max(X, 0)]: the mean the truncation at zero actually gives.
        z = self.mu / self.sd
        cdf = 0.5 * (1 + math.erf(z / math.sqrt(2)))
        return self.mu * cdf + self.sd * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)

    def sampler(self, gen: np.random.Generator) -> Callable[[], float]:
        return block_sampler(lambda n: np.maximum(gen.normal(self.mu, self.sd, n), 0.0))


@dataclass(frozen=True)
class Gamma:
    """Gamma service time: ``shape`` k and ``scale`` θ seconds (mean kθ)."""

    shape: float
    scale: float

    @property
    def mean(self) -> float:
        return self.shape * self.scale

    def sampler(self, gen: np.random.Generator) -> Callable[[], float]:
        return block_sampler(lambda n: gen.gamma(self.shape, self.scale, n))


@dataclass(frozen=True)
class Weibull:
    """Weibull service time: ``shape`` k and ``scale`` λ seconds (mean λ·Γ(1 + 1/k))."""

    shape: float
    scale: float

    @property
    def mean(self) -> float:
        return self.scale * math.gamma(1 + 1 / self.shape)

    def sampler(self, gen: np.random.Generator) -> Callable[[], float]:
        return block_sampler(lambda n: self.scale * gen.weibull(self.shape, n))


@dataclass(frozen=True)
class Pareto:
    """Pareto (type I) service time: ``shape`` α > 1 and minimum ``scale`` x_m seconds (mean α·x_m / (α − 1))."""

    shape: float
    scale: float

    @property
    def mean(self) -> float:
        return self.shape * self.scale / (self.shape - 1)

    def sampler(self, gen: np.random.Generator) -> Callable[[], float]:
        # numpy's pareto is the Lomax (Pareto II, minimum 0): shifted by one and scaled, it is Pareto I.
        return block_sampler(lambda n: (gen.pareto(self.shape, n) + 1.0) * self.scale)


@dataclass(frozen=True, eq=False)
class Empirical:
    """Service times drawn uniformly from measured ``samples`` (seconds): the empirical distribution."""

    samples: np.ndarray

    @property
    def mean(self) -> float:
        return float(self.samples.mean())

    def sampler(self, gen: np.random.Generator) -> Callable[[], float]:
        s = self.samples
        return block_sampler(lambda n: s[gen.integers(0, len(s), n)])
