"""What the server tells a refused client about when to come back (Retry-After), a scenario's choice.

None of the seed documents promises a Retry-After header or a reset time in
the body, so a scenario sends none unless it says otherwise (``service.retry_after``).
"""
from __future__ import annotations

#: Where the server puts its hint: nowhere, in a Retry-After header (every client may read it) or in the
#: error body (only a client that reads the API's documented body: the doc presets and custom policies).
SEND = ("none", "header", "body")


class RetryAfterHint:
    """``hint(wait) -> seconds | None``: the hint a refusal carries, from the protection's own ``wait``.

    ``wait`` is what the refusing limiter, quota or credit counter knows:
    seconds until the window resets or a token is there. ``send="none"``
    gives None (no hint); otherwise ``seconds`` (a fixed value, e.g. a
    server that always says ``Retry-After: 1``) or, when ``seconds`` is
    None, ``wait`` itself (the window's reset).
    """

    __slots__ = ("send", "seconds")

    def __init__(self, send: str = "none", seconds: float | None = None):
        if send not in SEND:
            raise ValueError(f"retry_after.send must be one of {', '.join(SEND)}, not {send!r}")
        if seconds is not None and not seconds > 0:
            raise ValueError(f"retry_after.seconds must be > 0, not {seconds!r}")
        self.send = send
        self.seconds = None if seconds is None else float(seconds)

    def __call__(self, wait: float) -> float | None:
        if self.send == "none":
            return None
        return wait if self.seconds is None else self.seconds

    @property
    def in_body(self) -> bool:
        """Whether the hint is only in the error body (clients that read headers only never see it)."""
        return self.send == "body"

    def __repr__(self) -> str:
        value = "reset" if self.seconds is None else f"{self.seconds:g} s"
        return f"RetryAfterHint({self.send}, {value})"
