"""The catalogs against their seed documents, and the loader's lookup, wire format and errors."""

from __future__ import annotations

import ast
import dataclasses
import json
import re
from pathlib import Path

import pytest

import resilsim.catalog as catalog_module
from resilsim.errors import ResilsimError
from resilsim.catalog import (
    ADVICE,
    API_NAMES,
    Catalog,
    CatalogError,
    ErrorCode,
    UnknownCodeError,
    classify,
    load_catalog,
)

SEEDS = Path(__file__).parents[2].parent / "shared" / "seeds"
SEED_FILES = {
    "analytics": "000_e2272c3be829553b.txt",
    "nanostream": "001_522fba4a0dc9ddbf.txt",
    "counters": "003_b678844baa588bf9.txt",
}
needs_seeds = pytest.mark.skipif(not SEEDS.is_dir(), reason=f"seed folder {SEEDS} is absent")


def seed_text(api: str) -> str:
    return (SEEDS / SEED_FILES[api]).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def analytics() -> Catalog:
    return load_catalog("analytics")


@pytest.fixture(scope="module")
def nanostream() -> Catalog:
    return load_catalog("nanostream")


@pytest.fixture(scope="module")
def counters() -> Catalog:
    return load_catalog("counters")


# --- counts and shapes ----------------------------------------------------------------------

ANALYTICS_CATEGORIES = [
    "Metrics", "Dashboard", "Forecast", "Report", "Authentication", "Validation",
    "AI Service", "Quota & Rate Limiting", "External Service", "Database", "General",
]


def test_analytics_counts(analytics):
    # The seed's header says "35 error codes across 11 categories"; its 11 tables list 52 codes.
    assert len(analytics) == 52
    assert list(dict.fromkeys(e.category for e in analytics)) == ANALYTICS_CATEGORIES
    assert [e.code for e in analytics][:2] == ["ANALYTICS_1000", "ANALYTICS_1001"]
    assert analytics.codes[-1].code == "ANALYTICS_2003"
    assert analytics.statuses == ()


def test_nanostream_counts(nanostream):
    assert len(nanostream) == 24
    assert [e.code for e in nanostream if e.family] == ["104XXX"]
    assert list(dict.fromkeys(e.category for e in nanostream)) == [
        "Request Configuration Errors", "Authentication Errors", "Filter Errors",
        "Processing Errors", "Accessability Errors",
    ]
    assert nanostream.statuses == ()


def test_counters_counts(counters):
    assert len(counters) == 12
    assert [e.code for e in counters] == [
        "-1000", "-1100", "-2000", "-2010", "-2011", "-2020", "-2021", "-2030", "-2040",
        "HTTP_401", "HTTP_403", "HTTP_429",
    ]
    assert [e.code for e in counters.statuses] == ["HTTP_401", "HTTP_403", "HTTP_429"]


def test_every_entry_is_well_formed():
    for api in API_NAMES:
        cat = load_catalog(api)
        assert cat.api == api and cat.body_format == api
        assert cat.source == f"shared/seeds/{SEED_FILES[api]}"
        for e in cat:
            assert isinstance(e.code, str) and isinstance(e.http, int)
            assert e.advice in ADVICE
            assert e.retryable == (e.advice != "never")


def test_role_codes(analytics, nanostream, counters):
    assert (analytics.rate_limit_code, analytics.quota_code, analytics.overload_code,
            analytics.timeout_code, analytics.auth_code) == (
        "ANALYTICS_1701", "ANALYTICS_1700", "ANALYTICS_2001", "ANALYTICS_2002", "ANALYTICS_1402")
    assert (nanostream.rate_limit_code, nanostream.quota_code, nanostream.overload_code,
            nanostream.timeout_code, nanostream.auth_code) == (None, None, "104000", "104000", "105011")
    assert (counters.rate_limit_code, counters.quota_code, counters.overload_code,
            counters.timeout_code, counters.auth_code) == ("HTTP_429", None, "-1000", "-1000", "HTTP_401")
    for cat in (analytics, nanostream, counters):
        for role in ("rate_limit_code", "quota_code", "overload_code", "timeout_code", "auth_code"):
            code = getattr(cat, role)
            assert code is None or code in cat


# --- sample entries, field by field ----------------------------------------------------------

SAMPLES = [
    ("analytics", ErrorCode("ANALYTICS_1701", 429, "RATE_LIMIT_EXCEEDED", "Quota & Rate Limiting",
                            "Rate limit exceeded", "Wait and retry after the rate limit window resets",
                            "after_window")),
    ("analytics", ErrorCode("ANALYTICS_1700", 429, "QUOTA_EXCEEDED", "Quota & Rate Limiting",
                            "Quota limit exceeded for this operation",
                            "Upgrade subscription tier or wait for quota reset", "after_reset")),
    ("analytics", ErrorCode("ANALYTICS_1104", 423, "DASHBOARD_LOCKED", "Dashboard",
                            "Dashboard is currently locked for editing",
                            "Wait for the lock to be released or contact the lock holder", "after_lock")),
    ("analytics", ErrorCode("ANALYTICS_1203", 503, "MODEL_UNAVAILABLE", "Forecast",
                            "The forecasting model is currently unavailable",
                            "Retry with exponential backoff; model may be updating", "backoff")),
    ("analytics", ErrorCode("ANALYTICS_1402", 401, "INVALID_TOKEN", "Authentication",
                            "Invalid or expired authentication token", "Obtain a fresh JWT token", "reauth")),
    ("analytics", ErrorCode("ANALYTICS_1903", 504, "QUERY_TIMEOUT", "Database", "Database query timed out",
                            "Reduce query complexity or narrow the date range", "never")),
    ("analytics", ErrorCode("ANALYTICS_2003", 503, "BOOTSTRAP_FAILED", "General", "Service failed to bootstrap",
                            "Wait for service restart; check CloudWatch logs", "backoff")),
    ("nanostream", ErrorCode("101007", 422, "Missing props request body", "Request Configuration Errors",
                             "The request body has missing properties. Check your request body content and "
                             "compare it with the route requirements at our API documentation",
                             "Learn to specify your request correctly by taking a look at our API documentation.",
                             "never")),
    ("nanostream", ErrorCode("101009", 403, "Invalid header", "Request Configuration Errors",
                             "The given header is invalid and does follow our request scheme. Details can be "
                             "found in the response statement.",
                             "Learn to specify your request correctly by taking a look at our API documentation.",
                             "never")),
    ("nanostream", ErrorCode("102021", 404, "API key not found", "Authentication Errors",
                             "The provided API key is invalid or malformed.", "", "never")),
    ("nanostream", ErrorCode("105012", 401, "X-ACCESS-TOKEN missing", "Accessability Errors",
                             "JWT token has not been set for the request. Please add to the request header field "
                             "'x-access-token' your JWT token.", "", "reauth")),
    ("nanostream", ErrorCode("104XXX", 500, "Internal Error", "Processing Errors",
                             "Something went wrong on our servers. Please try again later. If this issue persists, "
                             "please do not hesitate to contact our support team",
                             "If you encounter such errors, please submit a support ticket or contact us directly.",
                             "backoff", family=True)),
    ("counters", ErrorCode("-1000", 500, "Unknown", "Unhandled internal error",
                           "An unknown error occurred. Please contact the support.",
                           "Retry with exponential backoff; report if persists", "backoff",
                           assumed=("http", "category"))),
    ("counters", ErrorCode("-2010", 400, "UnknownCounterType", "Validation / domain errors",
                           "The counter type does not exist.", "Adjust client logic", "never",
                           assumed=("http", "category"))),
    ("counters", ErrorCode("-2030", 400, "DisplayNameInvalidLength", "Validation / domain errors",
                           "The display name must be between 5 and 40 characters long.", "", "never",
                           assumed=("http", "category"))),
    ("counters", ErrorCode("HTTP_429", 429, "RateLimited", "Rate limit exceeded", "Rate limit exceeded",
                           "Backoff 1s,2s,4s,8s.. max 30s", "backoff", assumed=("name", "body"))),
    ("counters", ErrorCode("HTTP_401", 401, "Unauthorized", "Missing or invalid bearer token",
                           "Missing or invalid bearer token", "", "reauth", assumed=("name", "body"))),
]


@pytest.mark.parametrize(("api", "expected"), SAMPLES, ids=[f"{a}:{e.code}" for a, e in SAMPLES])
def test_sample_entries(api, expected):
    assert load_catalog(api)[expected.code] == expected


# Advice derived independently from each seed's wording (see the brief in the YAML headers).
ANALYTICS_ADVICE = {
    **{c: "retry" for c in (1201, 1301, 1600, 1601, 1602, 1604, 1800, 1801, 1802, 1803, 1804,
                            1900, 1901, 1904, 2000, 2002)},
    1203: "backoff", 2001: "backoff", 2003: "backoff",
    1700: "after_reset", 1701: "after_window", 1400: "reauth", 1402: "reauth", 1104: "after_lock",
}


def test_analytics_advice(analytics):
    got = {int(e.code.removeprefix("ANALYTICS_")): e.advice for e in analytics if e.advice != "never"}
    assert got == ANALYTICS_ADVICE
    # Every client error (400/402/403/404/409/410/413) is never retried.
    for e in analytics:
        if e.http in (400, 402, 403, 404, 409, 410, 413):
            assert e.advice == "never", e.code


def test_nanostream_advice(nanostream):
    assert {e.code: e.advice for e in nanostream if e.advice != "never"} == {
        "104XXX": "backoff", "105011": "reauth", "105012": "reauth"}


def test_counters_advice(counters):
    assert {e.code: e.advice for e in counters if e.advice != "never"} == {
        "-1000": "backoff", "HTTP_401": "reauth", "HTTP_429": "backoff"}


# --- the catalogs against the seed text ------------------------------------------------------

@needs_seeds
def test_analytics_matches_seed_tables(analytics):
    rows, category = {}, None
    for line in seed_text("analytics").splitlines():
        heading = re.fullmatch(r"(?:.*\})?([A-Za-z &]+)ANALYTICS_\d{4}-\d{4}", line)
        if heading:
            category = heading[1]
        row = re.fullmatch(r"(ANALYTICS_\d{4}) \| (\d{3}) \| (\w+) \| (.+?) \| (.+?) \|", line)
        if row:
            rows[row[1]] = (int(row[2]), row[3], category, row[4], row[5])
    assert len(rows) == 52
    assert {e.code: (e.http, e.name, e.category, e.message, e.resolution) for e in analytics} == rows


@needs_seeds
def test_nanostream_matches_seed_tables(nanostream):
    text = seed_text("nanostream")
    rows = [line for line in text.splitlines() if re.fullmatch(r"(\d{6}|104XXX)\D.*\d{3}", line)]
    assert len(rows) == len(nanostream) == 24
    headings = [e.category for e in nanostream]
    for line, e in zip(rows, nanostream):
        # The seed's table rows are the cells run together: code, short name, description, HTTP.
        assert line == f"{e.code}{e.name}{e.message}{e.http}"
        # The entry sits under its group heading, and its resolution is that group's text.
        section = text.split(f"\n{e.category}\n", 1)[1]
        for other in set(headings) - {e.category}:
            section = section.split(f"\n{other}\n", 1)[0]
        assert line in section
        assert e.resolution == "" or e.resolution in section


@needs_seeds
def test_counters_matches_seed_tables(counters):
    text = seed_text("counters")
    rows = dict(
        (m[1], (m[2], m[3])) for m in re.finditer(r"^(-\d{4}) \| (\w+) \| (.+?) \|$", text, re.M)
    )
    codes = [e for e in counters if e.code not in counters.status_codes]
    assert {e.code: (e.name, e.message) for e in codes} == rows
    causes = dict(re.findall(r"^(\d{3}) \| (.+?) \|", text, re.M))
    for e in counters:
        assert e.category == causes[str(e.http)], e.code
    strategies = dict(re.findall(r"^(.+?) \| (?:Yes|No)[^|]*\| (.+?) \|$", text, re.M))
    assert counters["-1000"].resolution == strategies["Unknown"]
    assert counters["-1100"].resolution == strategies["NotFound"]
    assert counters["-2000"].resolution == strategies["InvalidData"]
    assert counters["-2011"].resolution == strategies["InvalidMode / UnknownCounterType"]
    assert counters["HTTP_429"].resolution == strategies["Rate limit (429)"]


@needs_seeds
@pytest.mark.parametrize("api", API_NAMES)
def test_every_text_is_verbatim_from_its_seed(api):
    text = seed_text(api)
    cat = load_catalog(api)
    for e in cat:
        fields = [e.message, e.category, e.resolution]
        # The seed names no code-less response; their names are HTTP reason phrases or our own.
        if e.code not in cat.status_codes:
            fields.append(e.name)
        for value in fields:
            assert value in text, (e.code, value)


# --- lookup ----------------------------------------------------------------------------------

def test_family_resolution(nanostream):
    member = nanostream["104123"]
    assert member.code == "104123" and member.family
    assert dataclass_fields(member, "code") == dataclass_fields(nanostream["104XXX"], "code")
    assert nanostream[104000].code == "104000"
    assert nanostream.get(" 104999 ").code == "104999"
    assert "104XXX" in nanostream and "104555" in nanostream
    for not_member in ("1041234", "10412", "104ABC", "105123"):
        assert not_member not in nanostream
    assert len(nanostream) == 24  # resolving members adds no entries


def dataclass_fields(e: ErrorCode, *without: str) -> dict:
    return {k: getattr(e, k) for k in ErrorCode.__dataclass_fields__ if k not in without}


def test_int_and_str_lookup(counters, nanostream):
    assert counters[-2000] is counters["-2000"]
    assert nanostream[101002] is nanostream["101002"]
    assert -1100 in counters and "-1100" in counters
    assert True not in counters and None not in counters and 3.0 not in counters
    assert counters.get("nope") is None and counters.get("nope", "x") == "x"


def test_unknown_code_error_names_close_codes(analytics, counters):
    with pytest.raises(UnknownCodeError) as info:
        analytics["ANALYTICS_1799"]
    assert str(info.value) == (
        "unknown analytics error code 'ANALYTICS_1799'; "
        "closest known codes: ANALYTICS_1700, ANALYTICS_1701, ANALYTICS_1702"
    )
    assert isinstance(info.value, KeyError)
    assert info.value.closest == ["ANALYTICS_1700", "ANALYTICS_1701", "ANALYTICS_1702"]
    with pytest.raises(KeyError, match=r"^unknown counters error code -2001; closest known codes: -2000, "):
        counters[-2001]
    assert analytics.closest("analytics_1701", n=1) == ["ANALYTICS_1701"]


def test_iteration_and_frame(analytics):
    assert list(analytics) == list(analytics.codes)
    frame = analytics.to_frame()
    assert list(frame.columns) == ["code", "http", "name", "category", "advice", "message", "resolution", "assumed"]
    assert (frame["assumed"] == "").all()  # every analytics field is the seed's word
    assert len(frame) == 52 and frame.loc[0, "code"] == "ANALYTICS_1000"
    assert frame["http"].dtype.kind == "i"


def test_guesses_are_marked_as_assumptions():
    counters = load_catalog("counters").to_frame().set_index("code")["assumed"]
    assert counters["-1000"] == "http, category, overload_code, timeout_code"
    assert counters["HTTP_429"] == "name, body" and counters["HTTP_401"] == "name, body"
    assert all(counters[c].startswith("http, category") for c in counters.index if not c.startswith("HTTP_"))
    nano = load_catalog("nanostream").to_frame().set_index("code")["assumed"]
    assert nano["104XXX"] == "overload_code, timeout_code" and (nano.drop("104XXX") == "").all()


def test_repr_html(analytics):
    page = analytics._repr_html_()
    assert "<table" in page and "<script" not in page.lower()
    assert page.count("<tr>") == 53  # header + one row per code
    assert "Quota &amp; Rate Limiting" in page
    assert repr(analytics) in page.replace("&lt;", "<").replace("&gt;", ">")
    assert repr(analytics) == "<Catalog analytics: Analytics Service, 52 codes>"


# --- the wire: response() and classify() -----------------------------------------------------

@pytest.mark.parametrize("api", API_NAMES)
def test_classify_round_trips_every_code(api):
    cat = load_catalog(api)
    for e in cat:
        status, body = cat.response(e.code)
        assert status == e.http
        wire = e.code.replace("X", "0") if e.family else e.code
        for sent in (body, None if body is None else json.dumps(body),
                     None if body is None else json.dumps(body).encode()):
            got = classify(api, status, sent)
            assert got is not None and got.code == wire, (e.code, sent)
            assert dataclass_fields(got, "code") == dataclass_fields(e, "code")


def test_response_bodies(analytics, nanostream, counters):
    assert analytics.response("ANALYTICS_1701") == (
        429, {"error": {"code": "ANALYTICS_1701", "message": "Rate limit exceeded", "http": 429}})
    assert nanostream.response("104XXX") == (500, {"code": 104000, "message": "Internal Error"})
    assert nanostream.response(104321) == (500, {"code": 104321, "message": "Internal Error"})
    assert nanostream.response("101007") == (422, {"code": 101007, "message": "Missing props request body"})
    assert counters.response(-2000) == (400, {
        "message": "The request was invalid or cannot be served. Please check the request and try again.",
        "code": -2000})
    # The counter API's empty 401 and generic 429 (no code); the 403 carries no code either.
    assert counters.response("HTTP_401") == (401, None)
    assert counters.response("HTTP_429") == (429, {"message": "Too Many Requests"})
    assert counters.response("HTTP_403") == (403, {"message": "Access denied to a resource"})
    # Each call gives a fresh body, so a caller's change cannot leak into the catalog.
    counters.response("HTTP_429")[1]["message"] = "changed"
    assert counters.response("HTTP_429")[1] == {"message": "Too Many Requests"}


@pytest.mark.parametrize("empty", [None, "", b"", "   ", "not json", b"<html>502</html>", "[]", "null"])
def test_counters_code_less_responses(counters, empty):
    assert counters.classify(401, empty).code == "HTTP_401"
    assert counters.classify(429, empty).code == "HTTP_429"
    assert counters.classify(500, empty).code == "-1000"
    assert counters.classify(404, empty).code == "-1100"


def test_counters_generic_429(counters):
    assert counters.classify(429, {"message": "Too Many Requests"}).advice == "backoff"
    assert counters.classify(429, b'{"message": "Too Many Requests"}').code == "HTTP_429"


def test_extra_properties_are_ignored(counters, analytics):
    body = {
        "message": "An unknown error occurred. Please contact the support.", "code": -1000,
        "traceId": "abc", "details": [{"x": 1}], "fields": ["name"],
        "stackTrace": "Traceback (most recent call last):\n  ...", "exception": {"type": "KeyError"},
    }
    assert counters.classify(500, body).code == "-1000"
    assert counters.classify(400, json.dumps({**body, "code": -2030})).code == "-2030"
    nested = {"error": {"code": "ANALYTICS_1000", "message": "m", "http": 404, "traceId": "t"}, "meta": {}}
    assert analytics.classify(404, nested).code == "ANALYTICS_1000"


def test_status_fallback_rules(analytics, nanostream, counters):
    # success and statuses no code has -> None
    assert analytics.classify(200, {"ok": True}) is None
    assert analytics.classify(204, None) is None
    assert analytics.classify(418, None) is None
    assert nanostream.classify(429, "") is None
    # role codes first
    assert analytics.classify(429, None).code == "ANALYTICS_1701"
    assert analytics.classify(401, "").code == "ANALYTICS_1402"
    assert analytics.classify(503, "Service Unavailable").code == "ANALYTICS_2001"
    assert analytics.classify(504, None).code == "ANALYTICS_2002"
    assert nanostream.classify(500, None).code == "104000"
    assert nanostream.classify(401, None).code == "105011"
    # then the first code with that status whose advice fits (retryable for 5xx)
    assert analytics.classify(500, None).code == "ANALYTICS_1201"
    assert analytics.classify(502, None).code == "ANALYTICS_1600"
    assert analytics.classify(404, None).code == "ANALYTICS_1000"
    assert nanostream.classify(422, None).code == "101007"
    # an unknown code in the body falls back to the status too
    assert analytics.classify(429, {"error": {"code": "ANALYTICS_9999"}}).code == "ANALYTICS_1701"
    assert counters.classify(400, {"code": -9999}).code == "-2000"
    # a known code wins over the status
    assert counters.classify(500, {"code": "-2000"}).code == "-2000"


def test_classify_accepts_catalog_objects(counters):
    assert classify(counters, 429, None).code == "HTTP_429"
    assert load_catalog(counters) is counters


# --- loading ---------------------------------------------------------------------------------

def test_builtins_are_cached():
    assert load_catalog("analytics") is load_catalog("analytics")


def test_import_is_cheap():
    # No simpy (decisions are pure), no pandas or numpy at import (to_frame imports pandas), no I/O; pydantic
    # only in the schema module, which no module imports at its top (the loader does so on its first parse).
    for path in Path(catalog_module.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        top = {
            alias.name.split(".")[0] if isinstance(node, ast.Import) else "." * node.level + (node.module or "")
            for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
            for alias in (node.names if isinstance(node, ast.Import) else [None])
        }
        assert not top & {"simpy", "pandas", "numpy", ".schema"}, path.name
        if path.name != "schema.py":
            assert not {t for t in top if t.startswith("pydantic")}, path.name


MINIMAL = """\
api: mine
title: My API
body: counters
rate_limit_code: "-7"
codes:
  - code: "-7"
    http: 429
    name: Slow
    category: Limits
    message: Slow down
    advice: after_window
"""


def test_user_catalog_loads(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(MINIMAL)
    cat = load_catalog(path)
    assert cat.api == "mine" and cat.source == ""
    assert cat["-7"] == ErrorCode("-7", 429, "Slow", "Limits", "Slow down", "", "after_window")
    assert cat.response(-7) == (429, {"message": "Slow down", "code": -7})
    assert load_catalog(str(path)) is not cat  # files are re-read


def _replace(old: str, new: str) -> str:
    assert old in MINIMAL
    return MINIMAL.replace(old, new)


BAD = [
    (_replace("advice: after_window", "advice: sometimes"),
     "codes[0].advice: 'sometimes' is not one of never, retry, backoff, after_window, after_reset, "
     "reauth, after_lock"),
    (_replace("http: 429", "http: 700"), "codes[0].http: 700 is not an HTTP status (an integer from 100 to 599)"),
    (_replace("http: 429", 'http: "429"'),
     "codes[0].http: '429' is not an HTTP status (an integer from 100 to 599)"),
    (_replace('- code: "-7"', "- code: -7"), "codes[0].code: -7 must be a quoted string, like \"-7\""),
    (_replace("    name: Slow\n", ""), "codes[0].name: required field is missing"),
    (_replace("    advice: after_window\n", "    advice: after_window\n    adivce: never\n"),
     "codes[0].adivce: unknown field; did you mean advice? allowed: code, http, name, category, message, "
     "resolution, advice, assumed, family"),
    (_replace("advice: after_window", "advice: after_window\n    assumed: [htp]"),
     "codes[0].assumed[0]: 'htp' is not one of http, name, category, message, resolution, advice, body"),
    (_replace("title: My API", "title: My API\nassumed: [overload]"),
     "assumed[0]: 'overload' is not one of rate_limit_code, quota_code, overload_code, timeout_code, auth_code"),
    (_replace("body: counters", "body: xml"), "body: 'xml' is not one of analytics, nanostream, counters"),
    (_replace("title: My API\n", ""), "title: required field is missing"),
    (_replace("title: My API", "titel: My API"),
     "titel: unknown field; did you mean title? allowed: api, title, source, body, rate_limit_code, quota_code, "
     "overload_code, "
     "timeout_code, auth_code, assumed, codes, statuses"),
    (_replace("message: Slow down", "message: no"), "codes[0].message: False must be a string"),
    (_replace('rate_limit_code: "-7"', 'rate_limit_code: "-8"'),
     "rate_limit_code: '-8' is not a code of this catalog; closest: -7"),
    (MINIMAL + MINIMAL[MINIMAL.index("  - code"):],
     "codes[1].code: '-7' duplicates codes[0].code"),
    (_replace("advice: after_window", "advice: after_window\n    family: true"),
     "codes[0].code: '-7' is a family, so it must mark its variable digits with X, like 104XXX"),
    (MINIMAL + "statuses:\n  - {code: HTTP_429, http: 401, name: U, category: c, message: m, advice: reauth}\n",
     "statuses[0].code: 'HTTP_429' must be HTTP_401 (HTTP_ and the entry's http status)"),
    (MINIMAL + "statuses:\n  - {code: HTTP_401, http: 401, name: U, category: c, message: m, advice: reauth,"
     " body: empty}\n",
     "statuses[0].body: must be a mapping (the JSON body) or null (an empty body)"),
    (_replace("codes:\n", "codes: []\nx:\n"), "x: unknown field; allowed: api, title, source, body, "
     "rate_limit_code, quota_code, overload_code, timeout_code, auth_code, assumed, codes, statuses"),
    ("api: mine\ntitle: t\nbody: counters\ncodes: []\n", "codes: must be a non-empty list of error codes"),
    ("api: [unclosed\n", "not valid YAML (expected ',' or ']', but got '<stream end>' at line 2)"),
    ("- just\n- a list\n", "a catalog file must be a mapping with the fields api, title, body, codes"),
    (_replace("codes:\n", "codes:\n  - just a code\n"),
     "codes[0]: must be a mapping with the fields code, http, name, category, message, advice"),
    (MINIMAL + "statuses: {code: HTTP_401}\n", "statuses: must be a list of status entries"),
    (_replace('rate_limit_code: "-7"', "rate_limit_code: -7"), 'rate_limit_code: -7 must be a quoted string, like "-7"'),
    (_replace('- code: "-7"', '- code: " "'), "codes[0].code: must not be empty"),
    (_replace("advice: after_window", "advice: after_window\n    family: 'yes'"),
     "codes[0].family: 'yes' must be true or false"),
    (MINIMAL + "statuses:\n  - {code: HTTP_429, http: 429, name: U, category: c, message: m, advice: never,"
     " family: true}\n",
     "statuses[0].family: unknown field; allowed: code, http, name, category, message, resolution, advice, assumed, "
     "body"),
    (MINIMAL.replace('"-7"', "HTTP_429") + "statuses:\n  - {code: HTTP_429, http: 429, name: U, category: c, "
     "message: m, advice: never}\n",
     "statuses[0].code: 'HTTP_429' duplicates codes[0].code"),
    (_replace("api: mine", "api: ''"), "api: must not be empty"),
]


@pytest.mark.parametrize(("text", "message"), BAD, ids=[m.split(":")[0] + f"-{i}" for i, (_, m) in enumerate(BAD)])
def test_bad_catalogs(tmp_path, text, message):
    path = tmp_path / "my.yaml"
    path.write_text(text)
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    assert str(info.value) == f"{path}: {message}"


def test_missing_catalog(tmp_path):
    with pytest.raises(CatalogError) as info:
        load_catalog("analytic")
    assert str(info.value) == (
        "analytic: no such catalog; give one of analytics, nanostream, counters or the path of a catalog YAML file")
    # One of the package's own errors (the CLI prints it as a sentence, exit 2), and still a ValueError.
    assert isinstance(info.value, ResilsimError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize("api", API_NAMES)
def test_shipped_catalogs_read_the_same_with_libyaml(api):
    """The built-in catalogs are read with libyaml's parser (yamlsafe.parse_shipped): the same data, the same
    catalog as the bounded reader every user's file goes through, which would also refuse a repeated key."""
    from importlib import resources

    from resilsim.catalog.load import parse_catalog
    from resilsim.yamlsafe import parse, parse_shipped

    text = resources.files("resilsim.catalog").joinpath(f"{api}.yaml").read_text(encoding="utf-8")
    assert parse_shipped(text) == parse(text, "catalog")
    label = f"resilsim/catalog/{api}.yaml"
    fields = [f.name for f in dataclasses.fields(Catalog) if not f.name.startswith("_")]
    shipped, bounded, loaded = (parse_catalog(text, label, shipped=True), parse_catalog(text, label), load_catalog(api))
    assert len(shipped.codes) > 10
    for name in fields:  # a Catalog compares by identity
        assert getattr(shipped, name) == getattr(bounded, name) == getattr(loaded, name), name


def test_parse_shipped_falls_back_to_the_bounded_reader_without_libyaml(monkeypatch):
    import yaml

    from resilsim import yamlsafe

    monkeypatch.delattr(yaml, "CSafeLoader", raising=False)
    assert yamlsafe.parse_shipped("a: 1\nb: [2, 3]\n") == {"a": 1, "b": [2, 3]}
    with pytest.raises(yamlsafe.YamlInputError, match="duplicate key"):
        yamlsafe.parse_shipped("a: 1\na: 2\n")
