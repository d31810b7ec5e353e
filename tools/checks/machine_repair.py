"""Closed-loop users against the machine-repair model's throughput (other seeds than the validation test).

N users, exponential think time Z, one worker with exponential service S, no retries:
X = (1 − p0)/S with the finite-source p0. ``.venv/bin/python tools/checks/machine_repair.py``.
"""
import math
from resilsim import load_scenario, simulate
def closed_form(N, Z, S):
    # finite-source M/M/1//N: p_k ∝ N!/(N-k)! (S/Z)^k
    r = S / Z
    terms = [math.factorial(N) / math.factorial(N - k) * r ** k for k in range(N + 1)]
    return (1 - terms[0] / sum(terms)) / S
for N, Z, S, seed in [(5, 1.0, 0.15, 101), (20, 2.0, 0.1, 102), (10, 0.5, 0.05, 103)]:
    sc = load_scenario({"name": "mr", "api": "analytics", "duration": 2100, "warmup": 100,
        "service": {"workers": 1, "queue": {"limit": 1000},
                    "operations": {"query_metrics": {"latency": {"exponential": {"mean": S}}}}},
        "clients": {"closed": {"users": N, "think": {"exponential": {"mean": Z}}}, "timeout": 1000, "deadline": 1000},
        "strategies": {"none": {"retry": "none"}}})
    r = simulate(sc, seed=seed)
    req = r.requests
    done = req[(req["end"] > 100) & (req["end"] <= 2100)]
    print(f"N={N} Z={Z} S={S}: formula X={closed_form(N, Z, S):.3f}/s, resilsim X={len(done) / 2000:.3f}/s (seed {seed})")
