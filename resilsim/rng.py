"""Seeded random streams, drawn in blocks.

Every draw in a run comes from a named stream spawned from one
``numpy.random.SeedSequence``: arrivals, service times, faults and client
jitter each have their own, so two strategies run on the same seed see the
same arrivals and the same incidents (common random numbers).

Calling numpy once per event costs about a microsecond; :class:`BlockRandom`
draws 4096 numbers at a time and hands them out one by one, which is what
keeps the per-attempt path cheap.
"""
from __future__ import annotations

from itertools import chain, repeat
from operator import methodcaller

import numpy as np

#: The named streams of a run, in spawn order. Appending a name keeps the
#: existing streams unchanged; reordering would change every result.
STREAMS = ("arrivals", "service", "faults", "jitter", "guards", "server", "network", "users")

#: Streams only some runs need, spawned by them alone, after :data:`STREAMS` (as if appended to it).
LATE_STREAMS = ("services",)

BLOCK = 4096


def resolve_seed(seed) -> np.random.SeedSequence:
    """The ``SeedSequence`` a run draws from: ``seed`` is an int ≥ 0, a ``SeedSequence`` or ``None``.

    ``None`` draws fresh entropy from the operating system, once: the returned
    sequence's ``entropy`` reproduces the run. A ``SeedSequence`` is copied
    from its entropy and spawn key, so how many children the caller's object
    has already spawned never changes what a run sees.
    """
    if isinstance(seed, np.random.SeedSequence):
        return np.random.SeedSequence(seed.entropy, spawn_key=seed.spawn_key, pool_size=seed.pool_size)
    if seed is None:
        return np.random.SeedSequence()
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise TypeError(f"seed must be a non-negative integer, a numpy SeedSequence or None, got {seed!r}")
    return np.random.SeedSequence(int(seed))


def spawn_streams(seed: int | np.random.SeedSequence) -> dict[str, np.random.Generator]:
    """Return one independent ``Generator`` per name in :data:`STREAMS`.

    ``seed`` is an int (entropy) or a ``SeedSequence`` (e.g. a sweep's spawned
    child). The same seed always gives the same streams, bit for bit, however
    often it is called: ``SeedSequence.spawn`` is stateful (a second call
    returns other children), so the streams are spawned from a fresh copy.
    """
    children = resolve_seed(seed).spawn(len(STREAMS))
    return {name: np.random.Generator(np.random.PCG64(child)) for name, child in zip(STREAMS, children)}


def late_stream(seed: int | np.random.SeedSequence, name: str) -> np.random.Generator:
    """The ``Generator`` of ``name`` in :data:`LATE_STREAMS`: what it would be if it were appended to
    :data:`STREAMS`, spawned only by a run that needs it (the others pay nothing)."""
    k = len(STREAMS) + LATE_STREAMS.index(name)
    child = resolve_seed(seed).spawn(k + 1)[k]
    return np.random.Generator(np.random.PCG64(child))


class BlockRandom:
    """Uniform numbers on [0, 1) from a numpy Generator, drawn in blocks.

    It has the one method policies need, ``random()`` (the next uniform
    number on [0, 1)), the same as Python's ``random.Random``: a policy
    written against it runs unchanged in a real client with ``random.Random()``.
    """

    __slots__ = ("_gen", "_size", "random")

    def __init__(self, gen: np.random.Generator, size: int = BLOCK):
        self._gen = gen
        self._size = size
        # random() is the C-level __next__ of a chain over blocks, so a draw costs no Python frame (the hot path
        # draws once or twice per attempt); a block is drawn only when the last one is used up, as a Python
        # method indexing the block would (tests/test_rng.py holds the two to the same numbers).
        self.random = _blocks(gen.random, size)


def block_sampler(draw, size: int = BLOCK):
    """A zero-argument callable returning the values of ``draw(size)`` (a vectorised sampler, e.g.
    ``lambda n: gen.exponential(2, n)``) one by one, block after block: ``block_sampler(draw)()`` is the next draw."""
    return _blocks(draw, size)


_tolist = methodcaller("tolist")  # Python floats once per block: cheaper to hand out than numpy scalars


def _blocks(draw, size: int):
    # The next value of draw(size), draw(size), ... as a C-level callable: chain's __next__ takes the next item
    # of the current block's list and asks map for the next block (one draw call) only when that list is spent.
    return chain.from_iterable(map(_tolist, map(draw, repeat(size)))).__next__
