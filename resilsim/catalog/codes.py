"""One error code as its seed document describes it, and the rules for naming codes.

A code is always a string (``"ANALYTICS_1701"``, ``"104000"``, ``"-2000"``, ``"HTTP_429"``); an
integer given for it is the same code. An entry whose code holds ``X`` stands for a family: each
``X`` is one variable digit, so nanoStream's ``104XXX`` covers ``104000`` to ``104999``.
"""

from __future__ import annotations

import difflib
import functools
import numbers
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

#: What a seed document tells a client to do about a code.
#: never: do not retry; retry: retry ("Retry", "try again"); backoff: retry later, with exponential
#: backoff; after_window: wait for the rate-limit window; after_reset: wait for the quota reset;
#: reauth: get a fresh token first; after_lock: wait for a lock to be released.
ADVICE = ("never", "retry", "backoff", "after_window", "after_reset", "reauth", "after_lock")

_INT_CODE = re.compile(r"-?\d+")


@dataclass(frozen=True, slots=True)
class ErrorCode:
    """One error an API answers with, as its seed document describes it.

    ``code`` is always a string (``"ANALYTICS_1701"``, ``"104000"``, ``"-2000"``, ``"HTTP_429"``);
    ``http`` is the HTTP status it comes with; ``advice`` is one of :data:`ADVICE`.
    ``family`` marks an entry standing for many codes (nanoStream's ``104XXX``); looking up a
    member returns a copy with the member's own code and ``family=True``. ``assumed`` names the
    fields the seed does not state (``http``, ``category``, ``body`` ...): resilsim's guesses,
    shown as such wherever the entry is printed.
    """

    code: str
    http: int
    name: str
    category: str
    message: str
    resolution: str
    advice: str
    family: bool = False
    assumed: tuple[str, ...] = ()

    @property
    def retryable(self) -> bool:
        """Whether the seed says the request may be sent again (in some way, at some time)."""
        return self.advice != "never"


class UnknownCodeError(KeyError):
    """A code that is not in the catalog; the message names the closest known codes."""

    def __init__(self, message: str, code: object, closest: list[str]) -> None:
        super().__init__(message)
        self.code = code
        self.closest = closest

    def __str__(self) -> str:
        # KeyError would print the repr of its argument, quotes and all.
        return str(self.args[0])


def norm_code(code: object) -> str | None:
    """The catalog key for ``code`` (ints become strings), or None for what cannot be a code."""
    if isinstance(code, str):
        return code.strip()
    if isinstance(code, numbers.Integral) and not isinstance(code, bool):
        return str(int(code))
    return None


def wire_code(code: str) -> int | str:
    """The code as it travels in a JSON body: numeric codes are JSON integers."""
    return int(code) if _INT_CODE.fullmatch(code) else code


@functools.lru_cache(maxsize=256)
def family_pattern(family: str) -> re.Pattern[str]:
    """``104XXX`` -> a pattern matching six-digit codes starting with 104 (each ``X`` one digit)."""
    return re.compile("".join(r"\d" if ch == "X" else re.escape(ch) for ch in family))


def in_family(code: str, name: str) -> bool:
    """Whether ``code`` is ``name`` itself or, ``name`` being a family (``104XXX``), one of its members."""
    return code == name or ("X" in name and family_pattern(name).fullmatch(code) is not None)


def first_member(family: str) -> str:
    """The member a bare family stands for on the wire: ``104XXX`` -> ``104000``."""
    return family.replace("X", "0")


def closest_codes(code: str, known: Iterable[str], n: int = 3) -> list[str]:
    """The ``n`` codes of ``known`` that look most like ``code``, best first.

    Ranked by difflib's similarity ratio, then by the length of the common prefix (so
    ``ANALYTICS_1799`` suggests its neighbours ``ANALYTICS_17xx``), then by the order of ``known``.
    """
    key = str(code).strip().casefold()
    matcher = difflib.SequenceMatcher(b=key)

    def rank(item: tuple[int, str]) -> tuple[float, int, int]:
        i, other = item
        matcher.set_seq1(other.casefold())
        return (-matcher.ratio(), -len(os.path.commonprefix([key, other.casefold()])), i)

    return [other for _, other in sorted(enumerate(known), key=rank)[:n]]
