"""The seed APIs' error codes as data, and the loader that reads them.

Each API is one YAML file in this folder (``analytics.yaml``, ``nanostream.yaml``,
``counters.yaml``); users may write their own in the same format and pass its path wherever an
API name is accepted. Every entry is copied verbatim from a seed document under
``shared/seeds/``; ``advice`` says what that document tells a client to do about the code.

>>> cat = load_catalog("analytics")
>>> cat["ANALYTICS_1701"].advice
'after_window'
>>> classify("counters", 429, b'{"message": "Too Many Requests"}').code
'HTTP_429'

Importing this module reads no file: catalogs are parsed on first use and the built-in ones are
cached. pandas is imported only by :meth:`Catalog.to_frame`.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import html
import json
import numbers
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:  # pragma: no cover
    import pandas

__all__ = [
    "ADVICE",
    "API_NAMES",
    "BODY_FORMATS",
    "Catalog",
    "CatalogError",
    "ErrorCode",
    "UnknownCodeError",
    "classify",
    "load_catalog",
]

#: What a seed document tells a client to do about a code.
#: never: do not retry; retry: retry ("Retry", "try again"); backoff: retry later, with exponential
#: backoff; after_window: wait for the rate-limit window; after_reset: wait for the quota reset;
#: reauth: get a fresh token first; after_lock: wait for a lock to be released.
ADVICE = ("never", "retry", "backoff", "after_window", "after_reset", "reauth", "after_lock")

#: The built-in catalogs, one per seed API.
API_NAMES = ("analytics", "nanostream", "counters")

#: The JSON body shapes a catalog can answer with (see :meth:`Catalog.response`).
BODY_FORMATS = ("analytics", "nanostream", "counters")

# The codes a simulated server answers with when a mechanism (not a fault) refuses a request.
_ROLE_FIELDS = ("rate_limit_code", "quota_code", "overload_code", "timeout_code", "auth_code")
_TOP_REQUIRED = ("api", "title", "body", "codes")
_TOP_FIELDS = ("api", "title", "source", "body", *_ROLE_FIELDS, "codes", "statuses")
_ENTRY_REQUIRED = ("code", "http", "name", "category", "message", "advice")
_CODE_FIELDS = ("code", "http", "name", "category", "message", "resolution", "advice", "family")
_STATUS_FIELDS = ("code", "http", "name", "category", "message", "resolution", "advice", "body")
_INT_CODE = re.compile(r"-?\d+")
_UNSET = object()


class CatalogError(ValueError):
    """A catalog file that cannot be used; the message names the file, the field and what is allowed."""


class UnknownCodeError(KeyError):
    """A code that is not in the catalog; the message names the closest known codes."""

    def __init__(self, message: str, code: object, closest: list[str]) -> None:
        super().__init__(message)
        self.code = code
        self.closest = closest

    def __str__(self) -> str:
        # KeyError would print the repr of its argument, quotes and all.
        return str(self.args[0])


@dataclass(frozen=True, slots=True)
class ErrorCode:
    """One error an API answers with, as its seed document describes it.

    ``code`` is always a string (``"ANALYTICS_1701"``, ``"104000"``, ``"-2000"``, ``"HTTP_429"``);
    ``http`` is the HTTP status it comes with; ``advice`` is one of :data:`ADVICE`.
    ``family`` marks an entry standing for many codes (nanoStream's ``104XXX``); looking up a
    member returns a copy with the member's own code and ``family=True``.
    """

    code: str
    http: int
    name: str
    category: str
    message: str
    resolution: str
    advice: str
    family: bool = False

    @property
    def retryable(self) -> bool:
        """Whether the seed says the request may be sent again (in some way, at some time)."""
        return self.advice != "never"


def _norm_code(code: object) -> str | None:
    """The catalog key for ``code`` (ints become strings), or None for what cannot be a code."""
    if isinstance(code, str):
        return code.strip()
    if isinstance(code, numbers.Integral) and not isinstance(code, bool):
        return str(int(code))
    return None


def _wire_code(code: str) -> int | str:
    """The code as it travels in a JSON body: numeric codes are JSON integers."""
    return int(code) if _INT_CODE.fullmatch(code) else code


def _family_regex(code: str) -> re.Pattern[str]:
    """``104XXX`` -> a pattern matching six-digit codes starting with 104."""
    return re.compile("".join(r"\d" if ch == "X" else re.escape(ch) for ch in code))


@dataclass(frozen=True, eq=False)
class Catalog:
    """The error codes of one API, in document order, with lookup, classification and responses.

    ``codes`` holds the documented codes followed by the ``statuses`` entries (code-less responses
    such as the counter API's ``HTTP_429``). The ``*_code`` attributes name the code a simulated
    server answers with when its rate limiter, quota, overload shedding, queue timeout or token
    check refuses a request (None where the seed documents no such code). ``status_codes`` names
    the ``statuses`` entries; ``status_bodies`` holds the literal body of those whose YAML gives
    one (None = an empty body). Build one with :func:`load_catalog`.
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
        set_("_families", tuple((_family_regex(e.code), e) for e in self.codes if e.family))
        set_("_members", {})  # family members already resolved, so lookups stay O(1)
        set_("_by_status", {})  # fallback per HTTP status, filled on first use

    # -- lookup -------------------------------------------------------------------------------

    def _lookup(self, code: object) -> ErrorCode | None:
        key = _norm_code(code)
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
        """The ``n`` known codes that look most like ``code``, best first.

        Ranked by difflib's similarity ratio, then by the length of the common prefix (so
        ``ANALYTICS_1799`` suggests its neighbours ``ANALYTICS_17xx``), then by document order.
        """
        key = str(code).strip().casefold()
        matcher = difflib.SequenceMatcher(b=key)

        def rank(item: tuple[int, str]) -> tuple[float, int, int]:
            i, known = item
            matcher.set_seq1(known.casefold())
            return (-matcher.ratio(), -len(os.path.commonprefix([key, known.casefold()])), i)

        return [known for _, known in sorted(enumerate(self._index), key=rank)[:n]]

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
        wire = _wire_code(entry.code.replace("X", "0") if entry.family else entry.code)
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
        """The entries as a DataFrame: code, http, name, category, advice, message, resolution."""
        import pandas as pd  # only here: importing the catalog stays cheap

        columns = ["code", "http", "name", "category", "advice", "message", "resolution"]
        return pd.DataFrame([[getattr(e, c) for c in columns] for e in self.codes], columns=columns)

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


# -- loading ----------------------------------------------------------------------------------


def load_catalog(name_or_path: str | os.PathLike[str] | Catalog) -> Catalog:
    """The catalog of a built-in API (``"analytics"``, ``"nanostream"``, ``"counters"``) or of a
    user's YAML file in the same format.

    Built-in catalogs are parsed once and cached; a file is read on every call. A Catalog is
    returned as it is. Raises :class:`CatalogError` for a missing or invalid file.
    """
    if isinstance(name_or_path, Catalog):
        return name_or_path
    if isinstance(name_or_path, str) and name_or_path in API_NAMES:
        return _builtin(name_or_path)
    path = Path(name_or_path)
    if not path.is_file():
        raise CatalogError(
            f"{name_or_path}: no such catalog; give one of {', '.join(API_NAMES)} "
            "or the path of a catalog YAML file"
        )
    return _parse_catalog(path.read_text(encoding="utf-8"), str(name_or_path))


@functools.lru_cache(maxsize=None)
def _builtin(name: str) -> Catalog:
    text = resources.files(__name__).joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    return _parse_catalog(text, f"resilsim/catalog/{name}.yaml")


def classify(api: str | os.PathLike[str] | Catalog, http_status: int, body: Any) -> ErrorCode | None:
    """The error entry of ``api`` that a response stands for; see :meth:`Catalog.classify`."""
    return load_catalog(api).classify(http_status, body)


def _parse_catalog(text: str, label: str) -> Catalog:
    """Validate a catalog YAML document; ``label`` names the file in error messages."""

    def fail(loc: str, what: str) -> CatalogError:
        return CatalogError(f"{label}: {loc}: {what}")

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise CatalogError(f"{label}: not valid YAML ({problem}{where})") from None
    if not isinstance(data, dict):
        raise CatalogError(
            f"{label}: a catalog file must be a mapping with the fields {', '.join(_TOP_REQUIRED)}"
        )
    for key in data:
        if key not in _TOP_FIELDS:
            raise fail(str(key), f"unknown field; allowed: {', '.join(_TOP_FIELDS)}")
    for key in _TOP_REQUIRED:
        if key not in data:
            raise fail(key, "required field is missing")

    def text_field(loc: str, value: object, *, empty: bool = True) -> str:
        # Strict strings: YAML reads `no`, `404` or `null` as other types, which would be a typo here.
        if not isinstance(value, str):
            raise fail(loc, f"{value!r} must be a string")
        if not empty and not value.strip():
            raise fail(loc, "must not be empty")
        return value

    api = text_field("api", data["api"], empty=False)
    title = text_field("title", data["title"], empty=False)
    source = text_field("source", data.get("source", ""))
    body_format = data["body"]
    if body_format not in BODY_FORMATS:
        raise fail("body", f"{body_format!r} is not one of {', '.join(BODY_FORMATS)}")

    entries: list[ErrorCode] = []
    seen: dict[str, str] = {}
    status_codes: set[str] = set()
    status_bodies: dict[str, dict | None] = {}
    for section, allowed in (("codes", _CODE_FIELDS), ("statuses", _STATUS_FIELDS)):
        items = data.get(section, [])
        if not isinstance(items, list) or (section == "codes" and not items):
            raise fail(section, "must be a non-empty list of error codes" if section == "codes"
                       else "must be a list of status entries")
        for i, item in enumerate(items):
            loc = f"{section}[{i}]"
            if not isinstance(item, dict):
                raise fail(loc, f"must be a mapping with the fields {', '.join(_ENTRY_REQUIRED)}")
            for key in item:
                if key not in allowed:
                    raise fail(loc, f"unknown field {key!r}; allowed: {', '.join(allowed)}")
            for key in _ENTRY_REQUIRED:
                if key not in item:
                    raise fail(loc, f"required field {key!r} is missing")
            code = item["code"]
            if not isinstance(code, str):
                raise fail(f"{loc}.code", f"{code!r} must be a quoted string, like \"{code}\"")
            code = text_field(f"{loc}.code", code, empty=False).strip()
            if code in seen:
                raise fail(f"{loc}.code", f"{code!r} duplicates {seen[code]}.code")
            seen[code] = loc
            http = item["http"]
            if not isinstance(http, int) or isinstance(http, bool) or not 100 <= http <= 599:
                raise fail(f"{loc}.http", f"{http!r} is not an HTTP status (an integer from 100 to 599)")
            advice = item["advice"]
            if advice not in ADVICE:
                raise fail(f"{loc}.advice", f"{advice!r} is not one of {', '.join(ADVICE)}")
            family = item.get("family", False)
            if not isinstance(family, bool):
                raise fail(f"{loc}.family", f"{family!r} must be true or false")
            if family and "X" not in code:
                raise fail(f"{loc}.code", f"{code!r} is a family, so it must mark its variable digits "
                                          "with X, like 104XXX")
            if section == "statuses":
                if code != f"HTTP_{http}":
                    raise fail(f"{loc}.code",
                               f"{code!r} must be HTTP_{http} (HTTP_ and the entry's http status)")
                status_codes.add(code)
                if "body" in item:
                    body = item["body"]
                    if body is not None and not isinstance(body, dict):
                        raise fail(f"{loc}.body",
                                   "must be a mapping (the JSON body) or null (an empty body)")
                    status_bodies[code] = body
            entries.append(
                ErrorCode(
                    code=code,
                    http=http,
                    name=text_field(f"{loc}.name", item["name"], empty=False),
                    category=text_field(f"{loc}.category", item["category"]),
                    message=text_field(f"{loc}.message", item["message"], empty=False),
                    resolution=text_field(f"{loc}.resolution", item.get("resolution", "")),
                    advice=advice,
                    family=family,
                )
            )

    roles: dict[str, str | None] = {}
    for role in _ROLE_FIELDS:
        value = data.get(role)
        if value is not None:
            if not isinstance(value, str):
                raise fail(role, f"{value!r} must be a quoted string, like \"{value}\"")
            value = value.strip()
        roles[role] = value
    catalog = Catalog(
        api=api,
        title=title,
        source=source,
        body_format=body_format,
        codes=tuple(entries),
        status_codes=frozenset(status_codes),
        status_bodies=status_bodies,
        **roles,
    )
    for role, value in roles.items():
        if value is not None and value not in catalog:
            closest = ", ".join(catalog.closest(value))
            raise fail(role, f"{value!r} is not a code of this catalog; closest: {closest}")
    return catalog
