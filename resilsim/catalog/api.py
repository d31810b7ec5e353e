"""The error codes of one API: lookup (families included), classification of responses, and the
bodies the real API answers with."""

from __future__ import annotations

import dataclasses
import functools
import html
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import CatalogError
from .codes import (ErrorCode, UnknownCodeError, closest_codes, family_pattern, first_member, in_family, norm_code,
                    wire_code)

if TYPE_CHECKING:  # pragma: no cover
    import pandas

#: The JSON body shapes a catalog can answer with (see :meth:`Catalog.response`).
BODY_FORMATS = ("analytics", "nanostream", "counters")

#: The fields naming the code a simulated server answers with when a mechanism (not a fault)
#: refuses a request: its rate limiter, quota, overload shedding, queue timeout or token check.
ROLE_FIELDS = ("rate_limit_code", "quota_code", "overload_code", "timeout_code", "auth_code")


@dataclass(frozen=True, eq=False)
class Catalog:
    """The error codes of one API, in document order, with lookup, classification and responses.

    ``codes`` holds the documented codes followed by the ``statuses`` entries (code-less responses
    such as the counter API's ``HTTP_429``). The ``*_code`` attributes name the code a simulated
    server answers with when its rate limiter, quota, overload shedding, queue timeout or token
    check refuses a request (None where the seed documents no such code). ``status_codes`` names
    the ``statuses`` entries; ``status_bodies`` holds the literal body of those whose YAML gives
    one (None = an empty body). ``assumed_roles`` names the ``*_code`` attributes that are
    resilsim's choice rather than the seed's word. Build one with :func:`load_catalog`.
    """

    api: str
    title: str
    source: str
    body_format: str
    codes: tuple[ErrorCode, ...]
    rate_limit_code: str | None = None
    quota_code: str | None = None
    overload_code: str | None = None
    timeout_code: str | None = None
    auth_code: str | None = None
    status_codes: frozenset[str] = frozenset()
    status_bodies: Mapping[str, dict | None] = field(default_factory=dict, repr=False)
    assumed_roles: frozenset[str] = frozenset()
    _index: dict[str, ErrorCode] = field(init=False, repr=False)
    _families: tuple[tuple[re.Pattern[str], ErrorCode], ...] = field(init=False, repr=False)
    _members: dict[str, ErrorCode] = field(init=False, repr=False)
    _by_status: dict[int, ErrorCode | None] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        index: dict[str, ErrorCode] = {}
        for entry in self.codes:
            if entry.code in index:
                raise CatalogError(f"{self.api}: codes: {entry.code!r} appears twice")
            index[entry.code] = entry
        set_ = functools.partial(object.__setattr__, self)
        set_("_index", index)
        set_("_families", tuple((family_pattern(e.code), e) for e in self.codes if e.family))
        set_("_members", {})  # family members already resolved, so lookups stay O(1)
        set_("_by_status", {})  # fallback per HTTP status, filled on first use

    # -- lookup -------------------------------------------------------------------------------

    def _lookup(self, code: object) -> ErrorCode | None:
        key = norm_code(code)
        if key is None:
            return None
        entry = self._index.get(key)
        if entry is not None:
            return entry
        entry = self._members.get(key)
        if entry is not None:
            return entry
        for pattern, family in self._families:
            if pattern.fullmatch(key):
                entry = dataclasses.replace(family, code=key)
                self._members[key] = entry
                return entry
        return None

    def __getitem__(self, code: str | int) -> ErrorCode:
        """The entry for ``code`` (``"ANALYTICS_1701"``, ``-2000``, ``"104123"``).

        A member of a family (``"104123"`` for ``104XXX``) gets the family's fields with its own
        code. Raises :class:`UnknownCodeError` (a KeyError) naming the three closest known codes.
        """
        entry = self._lookup(code)
        if entry is None:
            close = self.closest(str(code))
            raise UnknownCodeError(
                f"unknown {self.api} error code {code!r}; closest known codes: {', '.join(close)}",
                code,
                close,
            )
        return entry

    def __contains__(self, code: object) -> bool:
        return self._lookup(code) is not None

    def __len__(self) -> int:
        return len(self.codes)

    def __iter__(self) -> Iterator[ErrorCode]:
        return iter(self.codes)

    def get(self, code: str | int, default: Any = None) -> ErrorCode | Any:
        """The entry for ``code``, or ``default`` when the catalog has none."""
        entry = self._lookup(code)
        return default if entry is None else entry

    def closest(self, code: str, n: int = 3) -> list[str]:
        """The ``n`` known codes that look most like ``code``, best first (see :func:`closest_codes`)."""
        return closest_codes(code, self._index, n)

    @property
    def statuses(self) -> tuple[ErrorCode, ...]:
        """The code-less response entries (``HTTP_401``, ``HTTP_429``, ...), in document order."""
        return tuple(e for e in self.codes if e.code in self.status_codes)

    # -- the wire -----------------------------------------------------------------------------

    def response(self, code: str | int) -> tuple[int, dict | None]:
        """``(http status, JSON body)`` as the real API answers with ``code``; None is an empty body.

        Bodies: analytics ``{"error": {"code", "message", "http"}}``; counters
        ``{"message", "code"}`` with an integer code; nanostream ``{"code", "message"}`` with an
        integer code and the short name as message (the seed documents no body schema, so this
        shape is ours). A bare family (``"104XXX"``) answers as its first member (``104000``).
        Status entries answer with the ``body`` their YAML gives (the counter API's empty 401 and
        generic 429), else with a code-less body of the catalog's format.
        """
        entry = self[code]
        if entry.code in self.status_bodies:
            body = self.status_bodies[entry.code]
            return entry.http, (None if body is None else json.loads(json.dumps(body)))
        status = entry.code in self.status_codes
        wire = wire_code(first_member(entry.code) if entry.family else entry.code)
        if self.body_format == "analytics":
            error = {"message": entry.message, "http": entry.http}
            if not status:
                error = {"code": wire, **error}
            return entry.http, {"error": error}
        if self.body_format == "nanostream":
            body = {"message": entry.name}
            return entry.http, (body if status else {"code": wire, **body})
        body = {"message": entry.message}
        return entry.http, (body if status else {**body, "code": wire})

    def classify(self, http_status: int, body: dict | str | bytes | None) -> ErrorCode | None:
        """The catalog entry a response stands for, or None for a success or an unknown status.

        ``body`` may be a dict, a JSON string or bytes; unknown extra properties (traceId,
        details[], fields[], stack traces) are ignored. A code in the body wins when the catalog
        knows it. Otherwise the HTTP status decides (empty, non-JSON or code-less bodies), taking
        the first of:

        1. the ``statuses`` entry for that status (counters: ``HTTP_401``, ``HTTP_429``);
        2. the catalog's rate-limit, auth, overload, timeout or quota code, in that order, if it
           has that status (analytics 429 -> ``ANALYTICS_1701``, 503 -> ``ANALYTICS_2001``;
           counters 500 -> ``-1000``; nanostream 500 -> ``104000``);
        3. the first code in document order with that status whose advice fits it: retryable for
           5xx, 408 and 429, ``never`` for other statuses;
        4. the first code with that status; else None.
        """
        status = int(http_status)
        if 200 <= status < 300:
            return None
        for code in self._body_codes(_parse_body(body)):
            entry = self._lookup(code)
            if entry is not None:
                return entry
        try:
            return self._by_status[status]
        except KeyError:
            entry = self._by_status[status] = self._status_fallback(status)
            return entry

    def _body_codes(self, body: Any) -> list[object]:
        """Candidate codes in a parsed body, the format's own place first."""
        if not isinstance(body, dict):
            return []
        error = body.get("error")
        nested = error.get("code") if isinstance(error, dict) else None
        top = body.get("code")
        found = [nested, top] if self.body_format == "analytics" else [top, nested]
        return [c for c in found if c is not None]

    def _status_fallback(self, status: int) -> ErrorCode | None:
        for entry in self.codes:
            if entry.code in self.status_codes and entry.http == status:
                return entry
        for role in ("rate_limit_code", "auth_code", "overload_code", "timeout_code", "quota_code"):
            code = getattr(self, role)
            entry = self._lookup(code) if code is not None else None
            if entry is not None and entry.http == status:
                return entry
        same = [e for e in self.codes if e.http == status]
        wants_retry = status >= 500 or status in (408, 429)
        for entry in same:
            if entry.retryable == wants_retry:
                return entry
        return same[0] if same else None

    # -- display ------------------------------------------------------------------------------

    def to_frame(self) -> pandas.DataFrame:
        """The entries as a DataFrame: code, http, name, category, advice, message, resolution, assumed.

        ``assumed`` lists the fields the seed does not state (resilsim's guesses), and the roles
        (``overload_code`` ...) for which this code is resilsim's choice; "" when all is the seed's.
        """
        import pandas as pd  # only here: importing the catalog stays cheap

        columns = ["code", "http", "name", "category", "advice", "message", "resolution"]
        roles = [(getattr(self, r), r) for r in ROLE_FIELDS if r in self.assumed_roles]
        return pd.DataFrame([[getattr(e, c) for c in columns] + [self._assumed(e, roles)] for e in self.codes],
                            columns=columns + ["assumed"])

    def _assumed(self, entry: ErrorCode, roles: list) -> str:
        # The entry's assumed fields, then the assumed roles its family or code fills.
        extra = [r for code, r in roles if code == entry.code or (entry.family and in_family(code, entry.code))]
        return ", ".join([*entry.assumed, *extra])

    def __repr__(self) -> str:
        return f"<Catalog {self.api}: {self.title}, {len(self.codes)} codes>"

    def _repr_html_(self) -> str:
        """A compact HTML table (inline CSS, no JavaScript) with a plain-text fallback."""
        esc = html.escape
        cols = ("code", "http", "name", "category", "advice", "message", "resolution")
        head = "".join(f"<th>{c}</th>" for c in cols)
        rows = []
        for e in self.codes:
            cells = [esc(str(getattr(e, c))) for c in cols]
            cells[4] = f'<span class="rs-adv rs-{e.advice}">{cells[4]}</span>'
            rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        return (
            "<div class='rs-catalog'>"
            "<style>.rs-catalog .rs-fallback{display:none}"
            ".rs-catalog table{border-collapse:collapse;font-size:12px}"
            ".rs-catalog th,.rs-catalog td{padding:2px 6px;text-align:left;vertical-align:top;"
            "border-bottom:1px solid #ddd}"
            ".rs-catalog .rs-adv{padding:0 4px;border-radius:3px;background:#e8f0e0}"
            ".rs-catalog .rs-never{background:#eee}</style>"
            f"<pre class='rs-fallback'>{esc(repr(self))}</pre>"
            f"<b>{esc(self.title)}</b> ({esc(self.api)}, {len(self.codes)} codes)"
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
        )


def _parse_body(body: object) -> Any:
    """A response body as a Python object; None when it is empty or not JSON."""
    if body is None or isinstance(body, dict):
        return body
    if isinstance(body, (bytes, bytearray, memoryview)):
        body = bytes(body).decode("utf-8", errors="replace")
    if not isinstance(body, str) or not body.strip():
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None
