"""The shipped catalogs load to the same entries, field by field and in order, as the pinned snapshot.

The digests were taken from the hand-written loader this package had before its pydantic models;
a change to a YAML file or to how the loader reads it changes them, and must be deliberate (they were
re-pinned when entries and catalogs gained their ``assumed`` marks).
"""

from __future__ import annotations

import hashlib

import pytest

from resilsim.catalog import API_NAMES, load_catalog

PINNED = {
    "analytics": "59c5b3094e179efdf27df789597e41ef806df5c14ecf3f5d96cc8f5d085b6957",
    "nanostream": "167c52e0c4bdcacf1e33ebb01651f893bea162b532b62ae07d74c856609e4b04",
    "counters": "60464f1c40f8978557416eb8b5e724838eb2b6264d6e0b56a8206704fd7f5711",
}


def fingerprint(api: str) -> str:
    """sha256 of the repr of everything a loaded catalog holds: its fields, and every ErrorCode in order."""
    c = load_catalog(api)
    state = (c.api, c.title, c.source, c.body_format, c.codes, c.rate_limit_code, c.quota_code,
             c.overload_code, c.timeout_code, c.auth_code, sorted(c.status_codes), sorted(c.status_bodies.items()),
             sorted(c.assumed_roles))
    return hashlib.sha256(repr(state).encode()).hexdigest()


@pytest.mark.parametrize("api", API_NAMES)
def test_shipped_catalog_matches_snapshot(api):
    assert fingerprint(api) == PINNED[api]
