"""A capacity cut (an incident's `workers`) against closed forms, written apart from the project's tests.

1. The API alone, 8 workers, exponential service of mean 0.05 s, 250 requests/s offered (saturated), cut to
   3 workers for 100-200 s: goodput must be c / E[S] = 160/s before and after, 60/s during.
2. A database behind the API, 10 workers, exponential service of mean 0.1 s, 30 calls/s, cut to 4 workers
   for the whole run: `Result.services()`'s queue_s must match Erlang C's Wq for M/M/4 (M/M/10 uncut).

``.venv/bin/python tools/checks/capacity_cut.py``
"""
import numpy as np
from resilsim import simulate
sc = """
name: cut-check
api: counters
duration: 300
warmup: 0
service:
  workers: 8
  queue: {limit: 50}
  operations:
    get_counter: {latency: {exponential: {mean: 0.05}}}
faults:
  incidents:
    - {name: cut, start: 100, duration: 100, workers: 3}
clients:
  arrival: {poisson: {rate: 250}}
strategies:
  none: {retry: none}
"""
r = simulate(sc, seed=11)
a = r.attempts
served = a[a.status == 200]
for lo, hi, c in [(20, 90, 8), (110, 190, 3), (220, 290, 8)]:
    n = ((served.end >= lo) & (served.end < hi)).sum()
    rate = n / (hi - lo)
    se = np.sqrt(c / 0.05 * (hi - lo)) / (hi - lo)  # Poisson-ish count error of completions
    print(f"{lo}-{hi}s: {rate:.1f}/s served, expected {c/0.05:.0f}/s (±{3*se:.1f} at 3 sd)")
import math
from resilsim import simulate

def erlang_c_wq(lam, mu, c):
    a = lam / mu; rho = a / c
    s = sum(a**k / math.factorial(k) for k in range(c))
    top = a**c / math.factorial(c) / (1 - rho)
    pw = top / (s + top)
    return pw / (c * mu - lam)

def scenario(cut):
    inc = ("faults:\n  incidents:\n    - {name: cut, service: db, start: 0, duration: 4000, workers: 4}\n" if cut else "")
    return f"""
name: cut-queue-check
api: analytics
duration: 4000
warmup: 200
service:
  workers: 200
  operations:
    query_metrics:
      latency: {{exponential: {{mean: 0.001}}}}
      calls:
        - {{service: db, operation: q, on_failure: ANALYTICS_1900}}
services:
  db:
    workers: 10
    operations: {{q: {{latency: {{exponential: {{mean: 0.1}}}}}}}}
{inc}clients:
  arrival: {{poisson: {{rate: 30}}}}
strategies:
  none: {{retry: none}}
"""
for cut, c in [(False, 10), (True, 4)]:
    r = simulate(scenario(cut), seed=5)
    s = r.services()
    row = s[s.service == "db"].iloc[0]
    print(f"c={c}: queue_s {row.queue_s:.4f} (Erlang C Wq {erlang_c_wq(30, 10, c):.4f}); "
          f"mean_s {row.mean_s:.4f} (W {erlang_c_wq(30, 10, c) + 0.1:.4f}); success {row.success_rate:.4f}")
