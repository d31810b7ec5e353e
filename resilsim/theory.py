"""Closed-form results the simulator is checked against (and a planner can use directly).

Queueing formulas for M/M/c (Erlang C) and M/M/c/K, and the retry-load
arithmetic of the Google SRE book (ch. 21) and Brooker (2022). Rates are
per second, times in seconds.
"""
from __future__ import annotations

import math


def erlang_b(servers: int, offered: float) -> float:
    """Erlang B blocking probability for ``servers`` and ``offered`` load (erlangs = λ/μ)."""
    b = 1.0
    for k in range(1, servers + 1):
        b = offered * b / (k + offered * b)
    return b


def erlang_c(servers: int, offered: float) -> float:
    """Erlang C: probability that an arrival waits in an M/M/c queue (needs offered < servers)."""
    if offered >= servers:
        return 1.0
    b = erlang_b(servers, offered)
    rho = offered / servers
    return b / (1 - rho + rho * b)


def mmc_mean_wait(arrival_rate: float, service_rate: float, servers: int) -> float:
    """Mean time in queue (seconds) of an M/M/c system."""
    a = arrival_rate / service_rate
    return erlang_c(servers, a) / (servers * service_rate - arrival_rate)


def mmc_mean_response(arrival_rate: float, service_rate: float, servers: int) -> float:
    """Mean time in system (queue + service, seconds) of an M/M/c system."""
    return mmc_mean_wait(arrival_rate, service_rate, servers) + 1.0 / service_rate


def mmck_probabilities(arrival_rate: float, service_rate: float, servers: int, capacity: int) -> list[float]:
    """Stationary probabilities p_0..p_K of the number in an M/M/c/K system (K = ``capacity``)."""
    a = arrival_rate / service_rate
    terms = []
    for n in range(capacity + 1):
        if n <= servers:
            terms.append(a ** n / math.factorial(n))
        else:
            terms.append(a ** servers / math.factorial(servers) * (a / servers) ** (n - servers))
    total = sum(terms)
    return [t / total for t in terms]


def mmck_blocking(arrival_rate: float, service_rate: float, servers: int, capacity: int) -> float:
    """Probability that an arrival finds an M/M/c/K system full (PASTA: p_K)."""
    return mmck_probabilities(arrival_rate, service_rate, servers, capacity)[-1]


def retry_load(failure: float, retries: int) -> float:
    """Attempts per first try when each attempt fails independently with ``failure`` and up to ``retries`` retries.

    (1 − f^(N+1)) / (1 − f); N + 1 at f = 1.
    """
    if failure >= 1.0:
        return retries + 1.0
    return (1 - failure ** (retries + 1)) / (1 - failure)


def success_probability(failure: float, attempts: int) -> float:
    """Probability a request succeeds within ``attempts`` independent attempts: 1 − f^n."""
    return 1 - failure ** attempts
