"""Each API-side protection, in a whole simulation, answers with the right code and source."""
import copy

import numpy as np
import pytest

import resilsim
from resilsim.catalog import load_catalog
from resilsim.errors import ScenarioError
from resilsim.scenario import load_scenario
from resilsim.server.incidents import LIBRARY

BASE = {
    "name": "t", "api": "analytics", "duration": 60, "drain": 30,
    "service": {"workers": 8, "operations": {
        "query_metrics": {"weight": 0.8, "latency": {"exponential": {"mean": 0.02}}, "uses": ["aurora"]},
        "generate_insights": {"weight": 0.2, "latency": {"exponential": {"mean": 0.05}}, "uses": ["aibrain"]}}},
    "clients": {"arrival": {"poisson": {"rate": 50}}},
    "strategies": {"none": {"retry": "none"}},
}


def scen(**changes):
    d = copy.deepcopy(BASE)
    for path, value in changes.items():
        node = d
        *head, last = path.split("__")
        for k in head:
            node = node.setdefault(k, {})
        node[last] = value
    return d


def sources(r, strategy="none"):
    a = r.attempts[r.attempts.strategy == strategy]
    return a.groupby(["source", "code"], observed=True).size().to_dict()


def test_fixed_window_limiter_answers_rate_limit_code_429():
    r = resilsim.simulate(scen(service__rate_limit={"fixed_window": {"limit": 20, "window": 1}}), 1)
    a = r.attempts
    lim = a[a.source == "limiter"]
    assert set(lim.code) == {"ANALYTICS_1701"} and set(lim.status) == {429}
    # 20 per aligned second admitted, the rest refused: admitted per second bin never exceeds 20.
    admitted = a[a.source != "limiter"]
    assert np.bincount((admitted.start // 1).astype(int)).max() <= 20
    assert len(lim) > 0.3 * len(a)


RA_STRATEGY = {"ra": {"retry": {"wait": {"fixed": 0.01}, "retry_after": True, "stop": {"attempts": 3}}}}


def retry_delays(r):
    """(first attempts refused by the limiter, when their second attempt starts)."""
    a = r.attempts.sort_values(["request", "attempt"])
    first = a[(a.attempt == 1) & (a.source == "limiter")]
    second = a[a.attempt == 2].set_index("request")
    return first, second.loc[first.request, "start"].to_numpy()


def test_rate_limit_retry_after_is_honoured_by_retry_after_strategies():
    s = scen(service__rate_limit={"fixed_window": {"limit": 10, "window": 5}}, service__retry_after="header",
             strategies=RA_STRATEGY)
    first, retry_at = retry_delays(resilsim.simulate(s, 2))
    # Retry-After is the time to the next 5-s boundary: every retry lands exactly on one.
    assert len(retry_at) > 10
    assert np.allclose(retry_at % 5.0, 0.0, atol=1e-6) | np.allclose(retry_at % 5.0, 5.0, atol=1e-6)
    assert np.all(retry_at > first.end.to_numpy())


def test_by_default_the_server_sends_no_retry_after():
    # No seed promises one: the strategy falls back to its own 0.01 s wait.
    first, retry_at = retry_delays(resilsim.simulate(
        scen(service__rate_limit={"fixed_window": {"limit": 10, "window": 5}}, strategies=RA_STRATEGY), 2))
    assert len(retry_at) > 10 and np.allclose(retry_at - first.end.to_numpy(), 0.01)


def test_a_fixed_retry_after_is_the_same_for_every_refusal():
    s = scen(service__rate_limit={"fixed_window": {"limit": 10, "window": 5}},
             service__retry_after={"send": "header", "value": "fixed", "seconds": 1.5}, strategies=RA_STRATEGY)
    first, retry_at = retry_delays(resilsim.simulate(s, 2))
    assert len(retry_at) > 10 and np.allclose(retry_at - first.end.to_numpy(), 1.5)


def test_a_retry_after_in_the_body_reaches_doc_policies_not_libraries():
    strategies = {**RA_STRATEGY, "urllib3": {"retry": "urllib3"}}
    limit = {"fixed_window": {"limit": 10, "window": 5}}
    body = resilsim.simulate(scen(service__rate_limit=limit, service__retry_after="body", strategies=strategies), 2)
    first, retry_at = retry_delays(body)
    assert len(retry_at) > 10 and np.allclose(retry_at % 5.0, 0.0, atol=1e-6) | np.allclose(retry_at % 5.0, 5.0,
                                                                                              atol=1e-6)
    # urllib3 retries a 429 only when a Retry-After *header* is there: with the hint in the body, never.
    a = body.attempts
    assert (a[a.strategy == "urllib3"].attempt == 1).all()
    header = resilsim.simulate(scen(service__rate_limit=limit, service__retry_after="header",
                                    strategies=strategies), 2).attempts
    assert (header[header.strategy == "urllib3"].attempt > 1).any()


def test_retry_after_fixed_needs_seconds():
    with pytest.raises(ScenarioError, match="give seconds exactly when value is fixed"):
        load_scenario(scen(service__retry_after={"send": "header", "value": "fixed"}))


def test_quota_exhaustion_and_after_reset():
    s = scen(**{"service__quota": {"period": 20, "tiers": {"free": 30, "pro": None}}, "service__retry_after": "header",
                "clients__tenants": {"free": 4, "pro": 1},
                "strategies": {"docs": {"retry": "analytics-docs"}}, "clients__deadline": 60})
    r = resilsim.simulate(s, 3)
    a = r.attempts
    q = a[a.source == "quota"]
    assert set(q.code) == {"ANALYTICS_1700"}
    # after_reset: the retry of a refused attempt starts at the next reset (a multiple of 20 s).
    nxt = a.set_index(["request", "attempt"])
    later = [nxt.loc[(rq, n + 1), "start"] for rq, n in zip(q.request, q.attempt) if (rq, n + 1) in nxt.index]
    assert later and np.allclose(np.asarray(later) % 20.0, 0.0, atol=1e-6)
    # 4 free tenants × 30 per 20 s: at most 120 free requests admitted per period, pro unlimited.
    assert len(q) > 0


def test_without_a_hint_a_quota_refusal_is_not_waited_out():
    # No Retry-After (the default): the docs' "wait for quota reset" has no time to wait for, so it fails.
    s = scen(**{"service__quota": {"period": 20, "tiers": {"free": 30, "pro": None}},
                "clients__tenants": {"free": 4, "pro": 1},
                "strategies": {"docs": {"retry": "analytics-docs"}}, "clients__deadline": 60})
    r = resilsim.simulate(s, 3)
    refused = r.attempts[r.attempts.source == "quota"]
    assert len(refused) > 0
    ends = r.requests.set_index("request").loc[refused.request]
    assert (ends.outcome == "failed").all() and (ends.code == "ANALYTICS_1700").all()
    assert (refused.attempt == ends.attempts.to_numpy()).all()  # the refusal was the request's last attempt


def test_tier_lock_credits_and_request_limits():
    s = scen(**{"clients__tenants": {"free": 3, "pro": 3},
                "service__locks": {"tiers": {"free": ["generate_insights"]}},
                "service__credits": {"period": 1000, "tiers": {"pro": 20}},
                "service__operations__generate_insights__credits": 1,
                "service__operations__query_metrics__violations": {"ANALYTICS_1004": 0.1}})
    r = resilsim.simulate(s, 4)
    a = r.attempts.merge(r.requests[["request", "operation"]], on="request")
    src = a.groupby(["source", "code"], observed=True).size().to_dict()
    assert src[("quota", "ANALYTICS_1702")] > 0
    assert set(a[a.code == "ANALYTICS_1702"].operation) == {"generate_insights"}
    # Pro: 3 tenants × 20 credits = 60 insights served, the rest 1603.
    ins_ok = ((a.operation == "generate_insights") & (a.code == "")).sum()
    assert ins_ok == 60
    assert src[("quota", "ANALYTICS_1603")] > 0
    inv = a[a.code == "ANALYTICS_1004"]
    assert set(inv.source) == {"request"} and set(inv.operation) == {"query_metrics"}
    n_q = (a.operation == "query_metrics").sum()
    # 10% of ~2400 query requests: sd ≈ 15, so ± 60 is 4 sd.
    assert abs(len(inv) - 0.1 * n_q) < 60


def test_expired_tokens_answer_auth_code_and_reauth_refreshes():
    s = scen(**{"clients__token_lifetime": 10, "clients__tenants": {"t": 2},
                "strategies": {"none": {"retry": "none"}, "docs": {"retry": "analytics-docs"}}})
    r = resilsim.simulate(s, 5)
    a = r.attempts
    none, docs = a[a.strategy == "none"], a[a.strategy == "docs"]
    assert set(none[none.source == "auth"].code) == {"ANALYTICS_1402"}
    # Without reauth the tokens stay expired: after 10 s every attempt is refused.
    assert (none[none.start > 10].source == "auth").all()
    # With reauth each client refreshes about once per lifetime: a handful of 401s, and the retries succeed.
    d401 = docs[docs.source == "auth"]
    assert 0 < len(d401) < 0.05 * len(docs)
    retried = docs[(docs.attempt == 2) & docs.request.isin(d401.request)]
    assert (retried.code == "").mean() > 0.95


def test_processing_timeout_shed_and_counters_generic_429():
    s = scen(**{"service__processing_timeout": {"after": 0.05, "code": "ANALYTICS_1903"}})
    r = resilsim.simulate(s, 6)
    pt = r.attempts[r.attempts.source == "processing_timeout"]
    assert set(pt.code) == {"ANALYTICS_1903"}
    assert (pt.end - pt.start).max() <= 0.05 + 1e-9
    s = scen(**{"service__workers": 1, "service__shed": {"load": 2}, "clients__arrival": {"poisson": {"rate": 100}}})
    a = resilsim.simulate(s, 6).attempts
    assert set(a[a.source == "shed"].code) == {"ANALYTICS_2001"}
    c = scen(api="counters", service__rate_limit={"token_bucket": {"rate": 10, "burst": 10}})
    a = resilsim.simulate(c, 7).attempts
    assert set(a[a.source == "limiter"].code) == {"HTTP_429"}
    status, body = load_catalog("counters").response("HTTP_429")
    assert status == 429 and "code" not in (body or {})


def test_codel_and_lifo_under_overload():
    for disc in ("codel", "lifo", "adaptive_lifo"):
        s = scen(**{"service__workers": 2, "service__queue": {"discipline": disc, "limit": 500},
                    "clients__arrival": {"poisson": {"rate": 150}}})
        a = resilsim.simulate(s, 8).attempts
        if disc == "codel":
            assert set(a[a.source == "shed"].code) == {"ANALYTICS_2001"}
        else:
            assert (a.source == "shed").sum() == 0


def test_reject_cost_takes_workers():
    s = scen(**{"service__rate_limit": {"fixed_window": {"limit": 5, "window": 1}},
                "clients__arrival": {"poisson": {"rate": 200}}})
    cheap = resilsim.simulate(s, 9)
    s["service"]["reject_cost"] = 0.5
    dear = resilsim.simulate(s, 9)
    assert cheap.stats["none"]["reject_s"] == 0.0
    n_rej = (dear.attempts.source == "limiter").sum()
    assert dear.stats["none"]["reject_s"] == pytest.approx(n_rej * 0.5 * (0.8 * 0.02 + 0.2 * 0.05))


def test_dependency_incident_fails_only_operations_using_it():
    s = scen(**{"faults": {"incidents": [{"use": "aurora-scale-up", "start": 10, "duration": 30, "rate": 1.0}]}})
    r = resilsim.simulate(s, 10)
    a = r.attempts.merge(r.requests[["request", "operation"]], on="request")
    inc = a[a.source == "incident"]
    assert set(inc.code) == {"ANALYTICS_1900"} and set(inc.operation) == {"query_metrics"}
    assert inc.start.min() >= 10 and inc.start.max() < 40


def test_campaign_spike_changes_arrival_rate():
    s = scen(**{"clients__arrival": {"poisson": {"rate": 20, "changes": [{"start": 20, "duration": 10, "rate": 200}]}}})
    r = resilsim.simulate(s, 11)
    st = r.requests.start
    inside = ((st >= 20) & (st < 30)).sum()
    outside = ((st < 20) | (st >= 30)).sum()
    # Poisson counts: 2000 ± 45 (sd) inside, 1000 ± 32 outside; 5 sd bands.
    assert abs(inside - 2000) < 225 and abs(outside - 1000) < 160


def test_timeline_has_protection_columns():
    s = scen(**{"service__rate_limit": {"token_bucket": {"rate": 20, "burst": 5}}})
    tl = resilsim.simulate(s, 12).timeline
    for col in ("limited_rps", "quota_rps", "overload_rps", "queue_length", "utilisation"):
        assert col in tl
    assert tl.limited_rps.mean() == pytest.approx(30, abs=4)    # 50/s offered, 20/s admitted
    assert ((tl.utilisation >= 0) & (tl.utilisation <= 1)).all()


def test_off_path_is_bit_identical_to_plain_run():
    # A scenario without API-side fields must not draw from new streams or change results.
    a = resilsim.simulate(scen(), 13).attempts
    b = resilsim.simulate(scen(**{"service__queue": {"discipline": "fifo"}, "clients__tenants": {"x": 3}}), 13).attempts
    assert a.equals(b)
    # Tenants only matter with a tenant-aware protection; with one, arrivals and service draws stay common.
    c = resilsim.simulate(scen(**{"clients__tenants": {"x": 3},
                                  "service__rate_limit": {"fixed_window": {"limit": 1000, "window": 1},
                                                          "per": "tenant"}}), 13).attempts
    assert np.array_equal(a.start.to_numpy(), c.start.to_numpy()) and np.array_equal(a.end.to_numpy(), c.end.to_numpy())


def test_validation_messages():
    with pytest.raises(ScenarioError, match="no rate-limit code"):
        load_scenario(scen(api="nanostream", service__rate_limit={"fixed_window": {"limit": 1, "window": 1}}))
    ok = load_scenario(scen(api="nanostream", service__rate_limit={"fixed_window": {"limit": 1, "window": 1},
                                                                    "code": "104000"}))
    assert ok.service.rate_limits()[0].code == "104000"
    with pytest.raises(ScenarioError, match="no quota code"):
        load_scenario(scen(api="counters", service__quota={"period": 10, "tiers": {"default": 5}}))
    with pytest.raises(ScenarioError, match="unknown tier 'gold'"):
        load_scenario(scen(**{"clients__tenants": {"free": 2}, "service__quota": {"period": 10, "tiers": {"gold": 5}}}))
    with pytest.raises(ScenarioError, match="unknown library incident"):
        load_scenario(scen(faults={"incidents": [{"use": "aurora-melt", "start": 1}]}))
    s = load_scenario(scen(faults={"incidents": [{"use": "aurora-scale-up", "start": 1, "duration": 20}]}))
    i = s.faults.incidents[0]
    assert (i.code, i.rate, i.duration, i.slowdown, i.dependency) == ("ANALYTICS_1900", 0.6, 20, 1.5, "aurora")


@pytest.mark.parametrize("name", list(LIBRARY))
def test_every_library_incident_runs_on_its_api(name):
    api, d = LIBRARY[name]
    s = scen(api=api, faults={"incidents": [{"use": name, "start": 5, "duration": 20}]})
    s["service"]["operations"]["query_metrics"]["uses"] = []
    s["service"]["operations"]["generate_insights"]["uses"] = []
    r = resilsim.simulate(s, 14)
    inc = r.attempts[r.attempts.source == "incident"]
    assert len(inc) > 0 and set(inc.code) <= {load_catalog(api)[d["code"]].code}


def test_lifo_serves_newest_and_fifo_oldest_under_overload():
    # One worker, 0.1 s constant service, 15/s offered: a standing queue. FIFO makes everyone wait
    # about as long as the queue; LIFO serves the newest at once and starves the oldest.
    def waits(disc):
        s = scen(**{"service__workers": 1, "service__queue": {"discipline": disc, "limit": 50},
                    "service__operations": {"op": {"latency": {"constant": 0.1}}},
                    "clients__arrival": {"poisson": {"rate": 15}}, "duration": 40})
        a = resilsim.simulate(s, 15).attempts
        ok = a[a.code == ""]
        return (ok.end - ok.start - 0.1).to_numpy()
    fifo, lifo = waits("fifo"), waits("lifo")
    assert np.median(lifo) < 0.2 < np.median(fifo)
    assert lifo.max() > fifo.max()          # the starved ones wait longest


def test_load_dependent_latency_slows_service_when_busy():
    base = scen(**{"service__operations": {"op": {"latency": {"constant": 0.1}}}, "service__workers": 4,
                   "clients__arrival": {"poisson": {"rate": 30}}})
    plain = resilsim.simulate(base, 16).attempts
    base["service"]["load_latency"] = {"alpha": 1.0, "power": 1.0}
    slow = resilsim.simulate(base, 16).attempts
    assert ((plain.end - plain.start) >= 0.1 - 1e-9).all()
    # Utilisation ≈ 0.75 with constant 0.1 s: served attempts take 0.1 × (1 + busy/4) ∈ [0.1, 0.2].
    served = slow[slow.code == ""]
    dur = (served.end - served.start).to_numpy()
    assert dur.mean() > 0.12


def test_every_protection_code_round_trips_through_its_response_body():
    # The body the API would send for each protection's code classifies back to that code.
    for api in ("analytics", "counters", "nanostream"):
        cat = load_catalog(api)
        for role in ("rate_limit_code", "quota_code", "overload_code", "timeout_code", "auth_code"):
            name = getattr(cat, role)
            if name is None:
                continue
            status, body = cat.response(name)
            got = cat.classify(status, body)
            assert got is not None and got.code == cat[name].code, (api, role)
    cat = load_catalog("analytics")
    for name in ("ANALYTICS_1603", "ANALYTICS_1702", "ANALYTICS_1004", "ANALYTICS_1102", "ANALYTICS_1202",
                 "ANALYTICS_1903"):
        assert cat.classify(*cat.response(name)).code == name


def test_sliding_log_limit_per_client_in_simulation():
    s = scen(**{"clients__tenants": {"t": 2}, "clients__clients_per_tenant": 2,
                "service__rate_limit": {"sliding_log": {"limit": 5, "window": 1}, "per": "client"}})
    r = resilsim.simulate(s, 17)
    a = r.attempts
    assert set(a[a.source == "limiter"].code) == {"ANALYTICS_1701"}
    # 4 clients × 5 per second admitted at most: ≈ 20/s of the 50/s offered.
    admitted = (a.source != "limiter").sum() / 60
    assert 17 < admitted <= 20.5


def test_library_incident_survives_overrides_and_rate_limit_list():
    from resilsim.scenario import with_overrides
    s = load_scenario(scen(faults={"incidents": [{"use": "aurora-scale-up", "start": 5}]},
                           service__rate_limit=[{"token_bucket": {"rate": 100, "burst": 10}},
                                                {"fixed_window": {"limit": 5, "window": 1}, "per": "tenant"}]))
    t = with_overrides(s, {"faults.incidents.0.rate": 0.9, "service.workers": 4})
    i = t.faults.incidents[0]
    assert (i.code, i.rate, i.duration, i.slowdown) == ("ANALYTICS_1900", 0.9, 180, 1.5)
    assert [r.kinds() for r in t.service.rate_limits()] == [["token_bucket"], ["fixed_window"]]
    with pytest.raises(ScenarioError, match="service.rate_limit.fixed_window.window"):
        load_scenario(scen(service__rate_limit={"fixed_window": {"limit": 1}}))
