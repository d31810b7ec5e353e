"""Each Python-library preset against the library's own code (the ``test`` extra installs them).

Deterministic parts are compared exactly, by feeding the library and the preset the same uniform
numbers; random parts by distribution, a two-sample Kolmogorov–Smirnov test per attempt number
on independent fixed seeds, its bound from the sample sizes; and what is retried, status by status.
"""
import math
import random
from types import SimpleNamespace

import pytest

from resilsim.catalog import ErrorCode
from resilsim.policies.guards import RetryQuota
from resilsim.policies.library import library_preset
from resilsim.policies.waits import exponential, jitter

botocore_standard = pytest.importorskip("botocore.retries.standard", reason="needs the test extra (botocore)")
urllib3_retry = pytest.importorskip("urllib3.util.retry", reason="needs the test extra (urllib3)")
stamina = pytest.importorskip("stamina", reason="needs the test extra (stamina)")
tenacity = pytest.importorskip("tenacity", reason="needs the test extra (tenacity)")

from botocore.awsrequest import AWSResponse  # noqa: E402
from botocore.exceptions import ReadTimeoutError as BotoReadTimeout  # noqa: E402
from botocore.retries import quota as boto_quota  # noqa: E402
from urllib3.exceptions import MaxRetryError, ReadTimeoutError  # noqa: E402
from urllib3.response import HTTPResponse  # noqa: E402

N = 4000  # draws per attempt number and side
#: c(α) of the two-sample KS test at α = 0.001: sqrt(−ln(α/2)/2).
KS_C = math.sqrt(-math.log(0.0005) / 2)
STATUSES = (400, 401, 403, 404, 409, 413, 422, 429, 500, 501, 502, 503, 504)


def ks_distance(a, b) -> float:
    """The two-sample Kolmogorov–Smirnov statistic of samples ``a`` and ``b``."""
    a, b = sorted(a), sorted(b)
    i = j = 0
    d = 0.0
    while i < len(a) and j < len(b):
        x = min(a[i], b[j])
        while i < len(a) and a[i] <= x:
            i += 1
        while j < len(b) and b[j] <= x:
            j += 1
        d = max(d, abs(i / len(a) - j / len(b)))
    return d


def assert_same_distribution(ours, theirs, what):
    bound = KS_C * math.sqrt((len(ours) + len(theirs)) / (len(ours) * len(theirs)))
    d = ks_distance(ours, theirs)
    assert d < bound, f"{what}: KS distance {d:.4f} ≥ {bound:.4f}"


class Feed:
    """An rng answering the uniforms of a list, in order (so both sides see the same draws)."""

    def __init__(self, us):
        self.us = iter(us)

    def random(self):
        return next(self.us)


def code(http, advice="retry"):
    return ErrorCode(code=f"E{http}", http=http, name="n", category="c", message="m", resolution="", advice=advice)


TIMEOUT = ErrorCode(code="TIMEOUT", http=0, name="CLIENT_TIMEOUT", category="Client", message="timeout",
                    resolution="", advice="retry")


def our_wait(p, c, attempt, rng, retry_after=None):
    d = p.policy.decide(c, attempt=attempt, elapsed=0.0, retry_after=retry_after, rng=rng)
    return d.wait if d.retry else None


# ---------------------------------------------------------------- botocore

#: An operation of a service with no modeled errors (not DynamoDB, not STS): botocore's generic rules apply.
OPERATION = SimpleNamespace(service_model=SimpleNamespace(service_name="generic"), error_shapes=[])


def boto_context(attempt, status=None, error_code=None, headers=None, exception=None):
    response = None if status is None else AWSResponse("https://x", status, headers or {}, None)
    parsed = {"Error": {"Code": error_code or "", "Message": ""}} if status is not None and status >= 400 else None
    return botocore_standard.RetryContext(attempt_number=attempt, http_response=response, parsed_response=parsed,
                                          caught_exception=exception, request_context={}, operation_model=OPERATION)


def boto_backoff(rng=random.random):
    detector = botocore_standard.ThrottlingErrorDetector(botocore_standard.RetryEventAdapter())
    return botocore_standard.ExponentialBackoff(random=rng, throttling_detector=detector), detector


@pytest.mark.parametrize("status", [500, 503, 429])
def test_aws_standard_delays_equal_botocores_for_the_same_uniforms(status):
    p = library_preset("aws-standard", max_attempts=12)
    us = [random.Random(status).random() for _ in range(1)] + [i / 97 for i in range(97)]
    for attempt in range(1, 12):
        for u in us:
            backoff, _ = boto_backoff(lambda u=u: u)
            theirs = backoff.delay_amount(boto_context(attempt, status))
            assert our_wait(p, code(status), attempt, Feed([u])) == pytest.approx(theirs, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("status", [503, 429])
def test_aws_standard_delay_distribution_per_attempt_matches_botocore(status):
    p = library_preset("aws-standard", max_attempts=8)
    for attempt in range(1, 8):
        boto_rng, our_rng = random.Random(1000 + attempt), random.Random(2000 + attempt)
        backoff, _ = boto_backoff(boto_rng.random)
        theirs = [backoff.delay_amount(boto_context(attempt, status)) for _ in range(N)]
        ours = [our_wait(p, code(status), attempt, our_rng) for _ in range(N)]
        assert_same_distribution(ours, theirs, f"HTTP {status}, retry {attempt}")


def test_aws_x_amz_retry_after_as_botocore():
    p = library_preset("aws-standard", amz_retry_after=True)
    for hint_ms in (0, 10, 500, 3000, 9000, 60000):
        for status in (503, 429):
            for attempt in (1, 2):
                backoff, _ = boto_backoff(lambda: 0.5)
                theirs = backoff.delay_amount(boto_context(attempt, status, headers={"x-amz-retry-after": str(hint_ms)}))
                ours = our_wait(p, code(status), attempt, Feed([0.5, 0.5]), retry_after=hint_ms / 1000)
                assert ours == pytest.approx(theirs)


def test_aws_standard_retries_what_botocores_standard_conditions_retry():
    conditions = botocore_standard.StandardRetryConditions(max_attempts=3)
    for name in ("aws-standard", "aws-adaptive"):
        p = library_preset(name)
        for status in STATUSES:
            theirs = conditions.is_retryable(boto_context(1, status))
            assert (our_wait(p, code(status), 1, Feed([0.5])) is not None) == theirs, (name, status)
        timeout = BotoReadTimeout(endpoint_url="https://x")
        assert conditions.is_retryable(boto_context(1, exception=timeout))
        assert our_wait(p, TIMEOUT, 1, Feed([0.5])) is not None
        assert not conditions.is_retryable(boto_context(3, 503)) and our_wait(p, code(503), 3, Feed([0.5])) is None


def test_aws_standard_quota_follows_botocores_retry_quota_checker():
    # One request at a time, a seeded mix of throttles, other errors and successes with and without retries.
    _, detector = boto_backoff()
    checker = botocore_standard.RetryQuotaChecker(boto_quota.RetryQuota(), detector)
    (ours,) = library_preset("aws-standard").guards()
    assert isinstance(ours, RetryQuota)
    rng = random.Random(5)
    for _ in range(3000):
        status = rng.choice([503, 503, 429, 500])
        ctx = boto_context(1, status)
        ours.on_result(0.0, False, False, False, status == 429)
        allowed = checker.acquire_retry_quota(ctx)
        assert ours.allow_retry(0.0) == allowed
        if rng.random() < 0.3:  # the request then succeeds
            ok = AWSResponse("https://x", 200, {}, None)
            checker.release_retry_quota(ctx.request_context, ok)
            ours.on_result(0.0, True, allowed)
        if rng.random() < 0.2:  # a request that succeeds at once
            checker.release_retry_quota({}, AWSResponse("https://x", 200, {}, None))
            ours.on_result(0.0, True, False)
        assert ours.tokens == checker._quota.available_capacity


# ---------------------------------------------------------------- urllib3

def urllib3_schedule(retry, method, status=None, error=None, headers=None):
    """The waits urllib3 would sleep for one request failing the same way each time, until it gives up."""
    waits = []
    while True:
        response = None if status is None else HTTPResponse(status=status, headers=headers or {},
                                                             preload_content=False)
        if response is not None and not retry.is_retry(method, status, bool(headers)):
            return waits, "not retried"
        try:
            retry = retry.increment(method=method, url="/", response=response, error=error)
        except MaxRetryError:
            return waits, "gave up"
        except ReadTimeoutError:
            return waits, "not retried"
        hint = retry.get_retry_after(response) if response is not None and retry.respect_retry_after_header \
            else None
        waits.append(hint if hint is not None else retry.get_backoff_time())


def our_schedule(p, c, retry_after=None, rng=None):
    waits, prev = [], 0.0
    for attempt in range(1, 50):
        d = p.policy.decide(c, attempt=attempt, elapsed=0.0, previous_wait=prev, retry_after=retry_after,
                            rng=rng or Feed([0.5] * 100))
        if not d.retry:
            return waits, "gave up" if d.outcome == "retries_exhausted" else "not retried"
        waits.append(d.wait)
        prev = d.wait


URLLIB3_CASES = {
    "urllib3": dict(total=3),
    "urllib3-backoff": dict(total=3, backoff_factor=0.5, status_forcelist=(500, 502, 503, 504)),
}


@pytest.mark.parametrize("name", list(URLLIB3_CASES))
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_urllib3_presets_schedule_and_statuses_as_urllib3(name, method):
    kw = URLLIB3_CASES[name]
    p = library_preset(name, idempotent=method != "POST")
    for status in STATUSES:
        for headers, hint in (({}, None), ({"Retry-After": "7"}, 7.0)):
            theirs = urllib3_schedule(urllib3_retry.Retry(**kw), method, status, headers=headers)
            ours = our_schedule(p, code(status), retry_after=hint)
            # Once retries run out urllib3 returns a Retry-After status and raises for a forcelisted one:
            # the request ends either way, so only a request never retried must end the same way.
            assert ours[0] == theirs[0] and (ours[0] or ours[1] == theirs[1]), (status, headers)
    error = ReadTimeoutError(None, "/", "read timed out")
    assert our_schedule(p, TIMEOUT) == urllib3_schedule(urllib3_retry.Retry(**kw), method, error=error)


def test_urllib3_default_is_retry_default():
    d = urllib3_retry.Retry.DEFAULT
    p = library_preset("urllib3")
    assert p.policy.stop.max_attempts == d.total + 1
    assert p.policy.wait.fallback.factor == d.backoff_factor and p.policy.wait.fallback.cap == d.DEFAULT_BACKOFF_MAX
    assert p.policy.retry_after_only == d.RETRY_AFTER_STATUS_CODES


def test_urllib3_jittered_backoff_distribution_per_retry():
    kw = dict(total=6, backoff_factor=0.3, backoff_jitter=0.7, status_forcelist=(503,))
    p = library_preset("urllib3", **kw)
    theirs_by_n = [[] for _ in range(6)]
    random.seed(17)  # urllib3 draws its jitter from the random module
    for _ in range(N):
        for n, w in enumerate(urllib3_schedule(urllib3_retry.Retry(**kw), "GET", 503)[0]):
            theirs_by_n[n].append(w)
    rng = random.Random(18)
    ours_by_n = [[] for _ in range(6)]
    for _ in range(N):
        for n, w in enumerate(our_schedule(p, code(503), rng=rng)[0]):
            ours_by_n[n].append(w)
    for n in range(6):
        assert_same_distribution(ours_by_n[n], theirs_by_n[n], f"retry {n + 1}")


# ---------------------------------------------------------------- stamina and tenacity

def retry_state(attempt, since_start=0.0):
    """A synthetic tenacity RetryCallState after ``attempt`` attempts, ``since_start`` seconds in."""
    rcs = tenacity.RetryCallState(retry_object=None, fn=None, args=(), kwargs={})
    rcs.attempt_number = attempt
    rcs.outcome_timestamp = rcs.start_time + since_start
    return rcs


def test_stamina_waits_equal_staminas_for_the_same_random_stream():
    ctx = stamina.retry_context(on=Exception)
    wait, stop = ctx._t_kw["wait"], ctx._t_kw["stop"]
    p = library_preset("stamina")
    for seed in range(20):
        random.seed(seed)
        theirs = [wait(retry_state(n)) for n in range(1, 10)]
        rng = random.Random(seed)
        ours = [p.policy.wait(n, 0.0, rng) for n in range(1, 10)]
        assert ours == pytest.approx(theirs, rel=1e-12)
    for attempt in range(1, 13):
        for since in (0.0, 10.0, 44.9, 45.0, 60.0):
            assert stop(retry_state(attempt, since)) == p.policy.stop(attempt, since, 0.0), (attempt, since)


def test_stamina_wait_distribution_per_attempt():
    wait = stamina.retry_context(on=Exception)._t_kw["wait"]
    p = library_preset("stamina")
    random.seed(99)
    theirs = {n: [wait(retry_state(n)) for _ in range(N)] for n in (1, 3, 6)}
    rng = random.Random(100)
    for n, sample in theirs.items():
        assert_same_distribution([p.policy.wait(n, 0.0, rng) for _ in range(N)], sample, f"retry {n}")


def test_resilsim_waits_equal_tenacitys():
    for mult, base, cap in ((1.0, 2.0, 30.0), (0.5, 3.0, 10.0), (0.1, 2.0, math.inf)):
        theirs = tenacity.wait_exponential(multiplier=mult, exp_base=base, max=cap)
        ours = exponential(mult, base, cap)
        assert [ours(n, 0.0, None) for n in range(1, 15)] == pytest.approx([theirs(retry_state(n)) for n in range(1, 15)])
        full = tenacity.wait_random_exponential(multiplier=mult, exp_base=base, max=cap)
        random.seed(4)
        t = [full(retry_state(n)) for n in range(1, 15)]
        rng = random.Random(4)
        assert [(ours + jitter("full"))(n, 0.0, rng) for n in range(1, 15)] == pytest.approx(t)
