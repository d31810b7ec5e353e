"""Attempts through a chain of three services behind the API, written apart from the project's tests.

Each call edge makes up to 4 attempts at once (no wait). With the bottom service always failing, the
bottom sees exactly 4 × 4 × 4 = 64 attempts per client request (the SRE book's example); with a 30 %
error rate at the bottom only, (1 − 0.3⁴)/(1 − 0.3) ≈ 1.417 attempts there per call into it.

``.venv/bin/python tools/checks/call_chain.py``
"""
from resilsim import simulate
def sc(err):
    return f"""
name: chain
api: analytics
duration: 200
warmup: 20
limits: {{max_amplification: 200}}
service:
  workers: 500
  operations:
    query_metrics:
      latency: {{constant: 0.001}}
      calls: [{{service: s1, operation: op, on_failure: ANALYTICS_1900, retry: {{stop: {{attempts: 4}}}}}}]
services:
  s1:
    workers: 500
    operations: {{op: {{latency: {{constant: 0.001}}, calls: [{{service: s2, operation: op, retry: {{stop: {{attempts: 4}}}}}}]}}}}
  s2:
    workers: 500
    operations: {{op: {{latency: {{constant: 0.001}}, calls: [{{service: s3, operation: op, retry: {{stop: {{attempts: 4}}}}}}]}}}}
  s3:
    workers: 500
    error_rate: {err}
    operations: {{op: {{latency: {{constant: 0.001}}}}}}
clients:
  arrival: {{poisson: {{rate: 20}}}}
strategies:
  none: {{retry: none}}
"""
for err in (1.0, 0.3):
    r = simulate(sc(err), seed=2)
    s = r.services()
    print(err, s[["service", "calls", "attempts", "amplification"]].to_string(index=False))
print("closed form at 0.3:", (1 - 0.3**4) / 0.7)
