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


def throttle_backend_load(request_rate: float, accept_rate: float, k: float, window: float,
                          clients: int = 1) -> float:
    """Attempts per second adaptive throttling lets through to a backend that accepts ``accept_rate`` per second.

    ``clients`` throttles (one per client) each see ``request_rate / clients``
    requests per second. In steady state with p > 0 a client's window holds
    r = λ_c·W requests and a = A_c·W accepts, and it sends the fraction
    1 − p = (K·a + 1)/(r + 1) of them; summed over clients (linear in A_c):
    λ_c·(K·A·W + clients)/(λ_c·W + 1) ≈ K·A, the book's "about 2·A" at K = 2.
    Rates per second, ``window`` in seconds.
    """
    lam = request_rate / clients
    sent = lam * (k * accept_rate * window + clients) / (lam * window + 1.0)
    return min(request_rate, sent)


def ratio_budget_load(percent: float, min_per_s: float, ttl: float, client_rate: float) -> tuple[float, float]:
    """Bounds on attempts per request under a Finagle-style ratio budget that binds (retries wanted > allowed).

    A budget allows retries(ttl) ≤ percent·requests(ttl) + min_per_s·ttl, so
    attempts per request ≤ 1 + percent + min_per_s/λ_c (λ_c = ``client_rate``,
    a budget's requests per second). When every allowance is wanted at once
    the balance left unspent stays below about one retry, so the load is at
    least that bound − 1/(λ_c·ttl). Returns (low, high).
    """
    high = 1.0 + percent + min_per_s / client_rate
    return high - 1.0 / (client_rate * ttl), high


def admitted_share(limit_per_s: float, offered_per_s: float) -> float:
    """The most a limit can let through of an offered load, as a share of it: min(1, limit ÷ offered).

    A rate limit or quota admitting ``limit_per_s`` attempts per second caps
    the share of ``offered_per_s`` requests per second that can succeed,
    however the clients retry (a retry spends the same allowance).
    """
    if offered_per_s <= 0:
        return 1.0
    return min(1.0, limit_per_s / offered_per_s)


def incident_success_bound(failure: float, attempts: int, affected: float = 1.0) -> float:
    """Success rate at most reachable during an incident: 1 − f^n on the ``affected`` share of requests.

    ``failure`` is the share of attempts failing during the incident,
    ``attempts`` the most attempts a request makes, ``affected`` the share of
    requests whose operation the incident hits (the others are taken to succeed).
    """
    return affected * success_probability(failure, attempts) + (1.0 - affected)


def machine_repair(users: int, think_mean: float, service_mean: float) -> tuple[float, float]:
    """The closed M/M/1 network (machine-repair model, finite source): ``users`` each think for an exponential time of
    mean ``think_mean`` seconds, then queue at one server with exponential service of mean ``service_mean`` seconds.

    Returns ``(p0, throughput)``: the probability that the server is idle,
    p0 = [Σ_{n=0..N} N!/(N−n)! · (S/Z)^n]^−1, and the throughput X = (1 − p0)/S
    requests per second (Kleinrock, Queueing Systems I, §3.8; Gross and Harris, §2.8).
    """
    r = service_mean / think_mean
    total, term = 1.0, 1.0
    for n in range(1, users + 1):
        term *= (users - n + 1) * r  # N!/(N−n)! · r^n, built up term by term
        total += term
    p0 = 1.0 / total
    return p0, (1.0 - p0) / service_mean


def layered_attempts(failure: float, attempts: list[int]) -> list[tuple[float, float]]:
    """Expected attempts (and their variance) at each layer of a call chain, per client request.

    ``attempts[i]`` is the most attempts the i-th edge makes (edge 0: client
    → API, edge 1: API → the next service, ..., the last edge reaches the
    bottom); only the bottom fails, each attempt independently with
    probability ``failure``. An attempt at layer i fails exactly when all of
    its own call's attempts below fail: ``q_i = failure^(a_{i+1}·…·a_L)``, and
    layer i's attempts per request are a geometric count truncated at
    ``c_i = a_1·…·a_i``: mean ``(1 − q_i^c_i) / (1 − q_i)`` (``c_i`` when
    ``q_i = 1``), which telescopes at the bottom to ``(1 − p^(a_1·…·a_L)) /
    (1 − p)`` (docs/validation.md). Returns ``(mean, variance)`` per layer,
    the API first.
    """
    out = []
    for i in range(len(attempts)):
        below = math.prod(attempts[i + 1:])
        cap = math.prod(attempts[: i + 1])
        q = failure ** below
        tail = [q ** (k - 1) for k in range(1, cap + 1)]  # P(N ≥ k)
        mean = sum(tail)
        second = sum((2 * k - 1) * t for k, t in zip(range(1, cap + 1), tail))
        out.append((mean, second - mean * mean))
    return out
