"""Quotas, credits, tier locks, request limits and tokens against hand-computed sequences."""
import math

import pytest

from resilsim.server.limiters import FixedWindow, Scoped
from resilsim.server.quota import Admission, Auth, Credits, Quota


def test_quota_per_tenant_with_reset_and_retry_after_to_reset():
    q = Quota([2, math.inf], period=100.0)
    assert q.try_use(1.0, 0) == 0.0 and q.try_use(2.0, 0) == 0.0
    assert q.try_use(3.0, 0) == pytest.approx(97.0)
    assert all(q.try_use(4.0, 1) == 0.0 for _ in range(1000))   # unlimited tier
    assert q.try_use(100.0, 0) == 0.0                            # reset at 100
    assert q.try_use(250.0, 0) == 0.0 and q.try_use(250.0, 0) == 0.0
    assert q.try_use(250.0, 0) == pytest.approx(50.0)


def test_quota_reset_offset():
    q = Quota([1], period=100.0, offset=30.0)
    assert q.try_use(10.0, 0) == 0.0
    assert q.try_use(20.0, 0) == pytest.approx(10.0)
    assert q.try_use(31.0, 0) == 0.0
    assert q.try_use(40.0, 0) == pytest.approx(90.0)


def test_credits_accounting():
    c = Credits([3.0], costs=[0.0, 2.0], period=50.0)
    assert all(c.try_spend(0.5, 0, 0) == 0.0 for _ in range(10))  # free operation
    assert c.try_spend(1.0, 0, 1) == 0.0
    assert c.balance == [1.0] and c.spent == 2.0
    assert c.try_spend(2.0, 0, 1) == pytest.approx(48.0)          # refused, nothing spent
    assert c.balance == [1.0]
    assert c.try_spend(50.0, 0, 1) == 0.0 and c.balance == [1.0]  # refilled to 3, spent 2


def test_admission_order_and_codes():
    # Tier 0 (free) is locked out of op 1; op 0 has 10% invalid requests (code 7); a global limit of 2 per 10 s.
    adm = Admission(tier_of=[0, 1], violations=[([0.1], [7]), None], locked={(0, 1)}, lock_code=5,
                    limiters=[(Scoped(lambda: FixedWindow(2, 10.0)), 3)], quota=Quota([100, 100], 3600.0),
                    quota_code=4, src_request=11, src_limiter=12, src_quota=13)
    assert adm.check(0.0, 0, 1, 0, 0.05) == 7 and adm.source == 11 and adm.retry_after is None
    assert adm.check(0.0, 1, 0, 0, 0.9) == 5 and adm.source == 13            # tier lock before the limiter
    assert adm.check(0.0, 1, 1, 0, 0.9) == -1                               # pro may
    assert adm.check(1.0, 0, 1, 0, 0.9) == -1
    assert adm.check(2.0, 0, 1, 0, 0.9) == 3 and adm.source == 12 and adm.retry_after == pytest.approx(8.0)
    # Refused attempts consume nothing further: the quota counted the two admitted only.
    assert adm.quota.used == [0, 2]
    assert adm.rejected == {"request": 1, "tier": 1, "limiter": 1, "quota": 0, "credits": 0}


def test_admission_quota_exhaustion_answers_quota_code_with_time_to_reset():
    adm = Admission(tier_of=[0], quota=Quota([1], 60.0), quota_code=9, src_quota=13)
    assert adm.check(10.0, 0, 0, 0, 0.5) == -1
    assert adm.check(15.0, 0, 0, 0, 0.5) == 9 and adm.retry_after == pytest.approx(45.0)


def test_tokens_expire_and_refresh():
    a = Auth(100.0, phases=[0.0, 0.5])
    assert a.expires == [100.0, 50.0]
    assert a.valid(49.0, 1) and not a.valid(60.0, 1)
    a.refresh(60.0, 1)
    assert a.valid(159.0, 1) and not a.valid(160.0, 1)
    assert a.expired == 2


@pytest.mark.parametrize("with_quota", [True, False])
@pytest.mark.parametrize("pers,kind", [(("tenant",), "token_bucket"), (("client",), "token_bucket"),
                                       (("global",), "token_bucket"), (("tenant", "global"), "token_bucket"),
                                       (("tenant",), "fixed_window"), (("client",), "sliding_log")])
def test_specialised_gate_answers_as_admission_check(pers, kind, with_quota):
    # The simulator's gate for "rate limits + a quota" (server/build.py) must decide, count and answer exactly
    # as the general gate around Admission.check, attempt by attempt, on the same random sequence. Each
    # specialised form is taken where it applies (checked by name below): several limiters, one limiter, and a
    # token bucket per tenant or client with a quota.
    import random
    from types import SimpleNamespace

    from resilsim.server import build
    from resilsim.server.limiters import FixedWindow, SlidingWindowLog, TokenBucket

    def admission():
        # The one-limiter gate inlines a token bucket and calls any other limiter: both against the general gate.
        make = (lambda: TokenBucket(15.0, 1)) if kind == "token_bucket" else (
            lambda: FixedWindow(2, 0.1) if kind == "fixed_window" else SlidingWindowLog(2, 0.1))
        lims = [(Scoped(make, per=p), 10 + k) for k, p in enumerate(pers)]
        quota = Quota([20, 30, math.inf], period=7.0) if with_quota else None
        return Admission(tier_of=[0, 1, 1], limiters=lims, quota=quota, quota_code=5, src_limiter=1, src_quota=7)

    rng = random.Random(3)
    n = 3000
    tenants = [rng.randrange(3) for _ in range(n)]
    requests = [SimpleNamespace(id=i, op=0, tenant=t, client=t * 4 + rng.randrange(4), prop_u=rng.random())
                for i, t in enumerate(tenants)]
    times = sorted(rng.uniform(0, 60) for _ in range(n))
    answers = {}
    for special in (True, False):
        adm, seen = admission(), []
        service = SimpleNamespace(reject=lambda att, now, code, src: seen.append((att.req.id, now, code, src,
                                                                                    att.retry_after)))
        if not special:
            adm.limits_and_quota_only = lambda: False  # the general gate
        gate = build.make_gate(service, adm, None, -1, 0)
        if special:
            form = "_limits_and_quota_gate" if len(pers) > 1 else "_one_limit_and_quota_gate"
            assert gate.__qualname__ == f"{form}.<locals>.gate"
            # what the fused loop writes out: only a token bucket per tenant or client with a quota
            keyed = pers != ("global",) and len(pers) == 1 and kind == "token_bucket" and with_quota
            assert hasattr(gate, "written_out") == keyed
        passed = [gate(SimpleNamespace(req=req, retry_after=None), t) for req, t in zip(requests, times)]
        answers[special] = (passed, seen, dict(adm.rejected))
    assert answers[True] == answers[False]
    assert 0 < sum(answers[True][0]) < n and answers[True][2]["limiter"]
    assert bool(answers[True][2]["quota"]) == with_quota
