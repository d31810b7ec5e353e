"""The shipped catalogs load to the same entries, field by field and in order, as the pinned snapshot.

The digests were taken from the hand-written loader this package had before its pydantic models;
a change to a YAML file or to how the loader reads it changes them, and must be deliberate.
"""

from __future__ import annotations

import hashlib

import pytest

from resilsim.catalog import API_NAMES, load_catalog

PINNED = {
    "analytics": "301dbe23b1a66b6d9b745163e39f64d62c37bfdce09b3f4da51ec6abd7c59ed9",
    "nanostream": "6e2cfb93111c3dfd208d6bf9ad7c09385068837c5d56d7e397f5718af3874a18",
    "counters": "49462b83704ebeecf614321053ad6556215bedb83ac1b7ff2474923cddd72c7f",
}


def fingerprint(api: str) -> str:
    """sha256 of the repr of everything a loaded catalog holds: its fields, and every ErrorCode in order."""
    c = load_catalog(api)
    state = (c.api, c.title, c.source, c.body_format, c.codes, c.rate_limit_code, c.quota_code,
             c.overload_code, c.timeout_code, c.auth_code, sorted(c.status_codes), sorted(c.status_bodies.items()))
    return hashlib.sha256(repr(state).encode()).hexdigest()


@pytest.mark.parametrize("api", API_NAMES)
def test_shipped_catalog_matches_snapshot(api):
    assert fingerprint(api) == PINNED[api]
