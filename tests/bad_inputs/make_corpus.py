"""Regenerate the bad-input corpus: one YAML file per case (expected messages live in expected.yaml).

Run ``python tests/bad_inputs/make_corpus.py`` from the repo root; the files are committed.
"""
from pathlib import Path

HERE = Path(__file__).parent
BASE = """\
name: bad
api: analytics
duration: 60
service:
  workers: 4
  operations:
    query_metrics:
      latency: {exponential: {mean: 0.05}}
clients:
  arrival: {poisson: {rate: 20}}
strategies:
  none: {retry: none}
"""


def sub(old, new):
    assert old in BASE, old
    return BASE.replace(old, new, 1)


def add(extra):
    return BASE + extra


CASES = {
    # YAML syntax / file shape
    "syntax_tab": BASE + "\tfoo: 1\n",
    "syntax_unclosed_flow": sub("{poisson: {rate: 20}}", "{poisson: {rate: 20}"),
    "syntax_bad_indent": sub("  workers: 4\n", "  workers: 4\n bad: 1\n"),
    "syntax_unclosed_quote": sub("name: bad", 'name: "bad'),
    "empty": "",
    "only_comment": "# nothing here\n",
    "list_document": "- 1\n- 2\n",
    "scalar_document": "hello\n",
    "two_documents": BASE + "---\nname: other\n",
    "duplicate_key": sub("duration: 60\n", "duration: 60\nduration: 30\n"),
    # unknown keys
    "unknown_top_key": sub("duration: 60", "durration: 60"),
    "unknown_service_key": sub("  workers: 4", "  wrokers: 4"),
    "unknown_clients_key": add("  timeuot: 1\n").replace("strategies:\n  none: {retry: none}\n", "") ,
    "unknown_strategy_key": sub("none: {retry: none}", "none: {retyr: none}"),
    "unknown_latency_key": sub("{exponential: {mean: 0.05}}", "{exponental: {mean: 0.05}}"),
    "unknown_poisson_key": sub("{rate: 20}", "{rat: 20}"),
    # missing
    "missing_api": sub("api: analytics\n", ""),
    "missing_duration": sub("duration: 60\n", ""),
    "missing_clients": BASE.split("clients:")[0] + "strategies:\n  none: {retry: none}\n",
    "missing_arrival": sub("  arrival: {poisson: {rate: 20}}", "  timeout: 1"),
    # wrong types
    "duration_string": sub("duration: 60", "duration: sixty"),
    "duration_list": sub("duration: 60", "duration: [60]"),
    "workers_float": sub("workers: 4", "workers: 4.5"),
    "workers_string": sub("workers: 4", "workers: four"),
    "service_list": sub("service:\n  workers: 4\n  operations:\n    query_metrics:\n      latency: {exponential: {mean: 0.05}}\n",
                        "service: [1, 2]\n"),
    "strategies_list": sub("strategies:\n  none: {retry: none}\n", "strategies: [none]\n"),
    "background_list": add("faults:\n  background: [ANALYTICS_1000]\n"),
    "name_bool_yes": sub("name: bad", "name: yes"),
    "name_bool_on": sub("name: bad", "name: on"),
    "api_bool_no": sub("api: analytics", "api: no"),
    "retry_on_status_string": sub("none: {retry: none}", "none: {retry: {retry_on: {status: [abc]}}}"),
    # non-positive numbers
    "duration_zero": sub("duration: 60", "duration: 0"),
    "duration_negative": sub("duration: 60", "duration: -5"),
    "rate_zero": sub("{rate: 20}", "{rate: 0}"),
    "rate_negative": sub("{rate: 20}", "{rate: -3}"),
    "workers_zero": sub("workers: 4", "workers: 0"),
    "latency_mean_negative": sub("{mean: 0.05}", "{mean: -0.05}"),
    "timeout_zero": add("  timeout: 0\n").replace("strategies:\n  none: {retry: none}\n", ""),
    "warmup_negative": add("warmup: -1\n"),
    "warmup_after_duration": add("warmup: 60\n"),
    "bin_zero": add("bin: 0\n"),
    # huge / non-finite numbers
    "duration_inf": sub("duration: 60", "duration: .inf"),
    "duration_nan": sub("duration: 60", "duration: .nan"),
    "rate_1e308_overflow": sub("{rate: 20}", "{rate: 1e400}"),
    "workers_10_pow_400": sub("workers: 4", "workers: 1" + "0" * 400),
    "workers_huge": sub("workers: 4", "workers: 1000000000000"),
    "latency_mean_inf": sub("{mean: 0.05}", "{mean: .inf}"),
    # probabilities
    "background_above_one": add("faults:\n  background: {ANALYTICS_5000: 1.5}\n"),
    "background_negative": add("faults:\n  background: {ANALYTICS_5000: -0.1}\n"),
    "background_sum_above_one": add("faults:\n  background: {ANALYTICS_5000: 0.6, ANALYTICS_5001: 0.6}\n"),
    "incident_rate_above_one": add("faults:\n  incidents:\n    - {start: 10, duration: 5, code: ANALYTICS_5000, rate: 2}\n"),
    # codes
    "unknown_background_code": add("faults:\n  background: {ANALYTICS_5999: 0.1}\n"),
    "unknown_incident_code": add("faults:\n  incidents:\n    - {start: 10, duration: 5, code: ANALYTICS_9999}\n"),
    "wrong_api_code": add("faults:\n  background: {'-1000': 0.1}\n"),
    "unknown_retry_on_code": sub("none: {retry: none}", "none: {retry: {retry_on: {codes: [ANALYTICS_50000]}}}"),
    "unknown_api": sub("api: analytics", "api: analytix"),
    # strategies / presets
    "unknown_preset": sub("none: {retry: none}", "none: {retry: exponentail}"),
    "unknown_jitter": sub("none: {retry: none}", "none: {retry: {jitter: fuzzy}}"),
    "two_waits": sub("none: {retry: none}", "none: {retry: {wait: {fixed: 1, exponential: {base: 1}}}}"),
    "stop_attempts_zero": sub("none: {retry: none}", "none: {retry: {stop: {attempts: 0}}}"),
    "stop_attempts_huge": sub("none: {retry: none}", "none: {retry: {stop: {attempts: 100000}}}"),
    "multiplier_below_one": sub("none: {retry: none}", "none: {retry: {wait: {exponential: {multiplier: 0.5}}}}"),
    "no_strategies": sub("strategies:\n  none: {retry: none}\n", "strategies: {}\n"),
    # guards and hedging
    "guard_unknown_kind": sub("none: {retry: none}", "none: {retry: immediate, guards: {circuit_breaker: {open_s: 5}}}"),
    "guard_unknown_key": sub("none: {retry: none}", "none: {retry: immediate, guards: {token_bucket: {max_token: 10}}}"),
    "guard_ratio_above_one": sub("none: {retry: none}", "none: {retry: immediate, guards: {ratio: {percent: 1.5}}}"),
    "guard_breaker_rate_zero": sub("none: {retry: none}", "none: {retry: immediate, guards: {breaker: {failure_rate: 0}}}"),
    "guard_window_type": sub("none: {retry: none}", "none: {retry: immediate, guards: {breaker: {window_type: sliding}}}"),
    "guard_bad_scope": sub("none: {retry: none}", "none: {retry: immediate, guards: {scope: region, breaker: {}}}"),
    "guard_bad_failures": sub("none: {retry: none}", "none: {retry: immediate, guards: {breaker: {}, failures: some}}"),
    "guard_failures_unknown_code": sub("none: {retry: none}",
                                       "none: {retry: immediate, guards: {breaker: {}, failures: [ANALYTICS_9999]}}"),
    "hedge_zero_delay": sub("none: {retry: none}", "none: {retry: none, hedge: {delay: 0}}"),
    "unknown_preset_in_block": sub("none: {retry: none}", "none: {retry: {preset: grcp, stop: {attempts: 2}}}"),
    # incidents
    "incident_after_run": add("faults:\n  incidents:\n    - {start: 100, duration: 5, code: ANALYTICS_5000}\n"),
    "incident_no_effect": add("faults:\n  incidents:\n    - {start: 10, duration: 5}\n"),
    "incident_unknown_operation": add("faults:\n  incidents:\n    - {start: 10, duration: 5, code: ANALYTICS_5000, operations: [qurey_metrics]}\n"),
    "incident_zero_duration": add("faults:\n  incidents:\n    - {start: 10, duration: 0, code: ANALYTICS_5000}\n"),
    "incident_unknown_library": add("faults:\n  incidents:\n    - {use: no_such_incident, start: 10, duration: 5}\n"),
    # clients
    "deadline_below_timeout": sub("  arrival: {poisson: {rate: 20}}", "  arrival: {poisson: {rate: 20}}\n  timeout: 10\n  deadline: 5"),
    # retries that could never stop, limits
    "retry_never_stops": sub("none: {retry: none}", "none: {retry: {wait: {fixed: 1}}}"),
    "retry_on_status_700": sub("none: {retry: none}", "none: {retry: {retry_on: {status: [700]}, stop: {attempts: 3}}}"),
    "limits_unknown_key": add("limits: {wall: 5}\n"),
    "limits_zero_attempts": add("limits: {max_attempts: 0}\n"),
    "limits_negative_wall": add("limits: {wall_s: -1}\n"),
    "limits_amplification_below_one": add("limits: {max_amplification: 0.5}\n"),
    # more wrong numbers and types
    "incident_start_negative": add("faults:\n  incidents:\n    - {start: -5, duration: 5, code: ANALYTICS_1203}\n"),
    "queue_limit_negative": sub("  workers: 4\n", "  workers: 4\n  queue: {limit: -1}\n"),
    "mixture_p_slow_above_one": sub("{exponential: {mean: 0.05}}", "{mixture: {value: 0.05, slow: 1, p_slow: 1.5}}"),
    "drain_negative": add("drain: -1\n"),
    "deadline_string": sub("  arrival: {poisson: {rate: 20}}", "  arrival: {poisson: {rate: 20}}\n  deadline: soon"),
    "nanostream_code_in_analytics": add("faults:\n  background: {'101001': 0.1}\n"),
    # abuse
    "alias_bomb": "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                  "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                  "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n",
    "deep_nesting": "a: " + "[" * 200 + "]" * 200 + "\n",
    "python_object_tag": sub("name: bad", "name: !!python/object/apply:os.system ['echo pwned']"),
    "python_name_tag": sub("name: bad", "name: !!python/name:os.system"),
    "custom_tag": sub("name: bad", "name: !include other.yaml"),
    "strategy_deadline_below_timeout": sub("  arrival: {poisson: {rate: 20}}\n", "  arrival: {poisson: {rate: 20}}\n"
                                           "  deadline: 5\n").replace("none: {retry: none}",
                                                                       "none: {retry: none, timeout: 3, deadline: 2}"),
    "strategy_timeout_after_deadline": sub("  arrival: {poisson: {rate: 20}}\n", "  arrival: {poisson: {rate: 20}}\n"
                                           "  deadline: 5\n").replace("none: {retry: none}",
                                                                       "none: {retry: none, timeout: 10}"),
    "deep_flow_5000": "a: " + "[" * 5000 + "]" * 5000 + "\n",
    "alias_bomb_mappings": "a: &a {k0: v, k1: v, k2: v, k3: v, k4: v, k5: v, k6: v, k7: v, k8: v, k9: v}\n"
                           + "".join(f"{c}: &{c} {{" + ", ".join(f"k{i}: *{p}" for i in range(10)) + "}\n"
                                     for p, c in zip("abcdefg", "bcdefgh")),
    # booleans and whole floats are not numbers of seconds or workers
    "duration_bool_yes": sub("duration: 60", "duration: yes"),
    "workers_bool_on": sub("workers: 4", "workers: on"),
    "workers_whole_float": sub("workers: 4", "workers: 4.0"),
    "rate_bool_true": sub("{rate: 20}", "{rate: true}"),
    "stop_attempts_bool": sub("none: {retry: none}", "none: {retry: {stop: {attempts: yes}}}"),
    "retry_after_number": sub("none: {retry: none}", "none: {retry: {retry_after: 1, stop: {attempts: 3}}}"),
    "queue_limit_whole_float": sub("  workers: 4\n", "  workers: 4\n  queue: {limit: 10.0}\n"),
    # one key written two ways, empty names
    "background_key_int_and_float": add("faults:\n  background: {1900: 0.1, 1900.0: 0.2}\n"),
    "background_key_true_and_one": add("faults:\n  background: {1: 0.1, true: 0.2}\n"),
    "strategy_name_empty": sub("none: {retry: none}", "'': {retry: none}"),
    "strategy_name_blank": sub("none: {retry: none}", "'   ': {retry: none}"),
    # sizes that overflow or underflow
    "duration_1e308": sub("duration: 60", "duration: 1.0e+308"),
    "bin_subnormal": add("bin: 5.0e-324\n"),
    "rate_change_duration_huge": sub("{poisson: {rate: 20}}",
                                     "{poisson: {rate: 20, changes: [{start: 1, duration: 1.0e+300, rate: 5}]}}"),
    "timeout_below_a_nanosecond": add("  timeout: 1.0e-12\n").replace("strategies:\n  none: {retry: none}\n", ""),
    "slowdown_huge": add("faults:\n  incidents:\n    - {start: 1, duration: 5, slowdown: 1.0e+200}\n"),
    "lognormal_sigma_1000": sub("{exponential: {mean: 0.05}}", "{lognormal: {median: 0.05, sigma: 1000}}"),
    "lognormal_sigma_6": sub("{exponential: {mean: 0.05}}", "{lognormal: {median: 0.05, sigma: 6}}"),
    "lognormal_p99_far": sub("{exponential: {mean: 0.05}}", "{lognormal: {median: 0.01, p99: 1.0e+4}}"),
    # nonsense refused
    "jitter_proportional_above_one": sub("none: {retry: none}",
                                         "none: {retry: {wait: {fixed: 1}, jitter: proportional, jitter_amount: 1.5, "
                                         "stop: {attempts: 3}}}"),
    "mixture_slow_faster": sub("{exponential: {mean: 0.05}}", "{mixture: {value: 0.5, slow: 0.1, p_slow: 0.1}}"),
    "mixture_slow_equal": sub("{exponential: {mean: 0.05}}", "{mixture: {value: 0.2, slow: 0.2, p_slow: 0.1}}"),
    "incident_rates_sum_above_one": add("faults:\n  incidents:\n    - {start: 1, duration: 5, "
                                        "rates: {ANALYTICS_1900: 0.7, ANALYTICS_1904: 0.6}}\n"),
    "incident_code_and_rates_above_one": add("faults:\n  incidents:\n    - {start: 1, duration: 5, code: ANALYTICS_1900, "
                                             "rate: 0.8, rates: {ANALYTICS_1904: 0.5}}\n"),
    # incident windows drawn before the run
    "flap_too_many_windows": add("faults:\n  incidents:\n    - {start: 0, duration: 50, code: ANALYTICS_1900, "
                                 "flap: {mean_on: 0.01, mean_off: 0.01}}\n"),
    "flaps_together_too_many": add("faults:\n  incidents:\n" + "".join(
        f"    - {{start: {i}, duration: 50, code: ANALYTICS_1900, flap: {{mean_on: 0.02, mean_off: 0.03}}}}\n"
        for i in range(3))),
}

BINARY = {"binary": bytes(range(256)) * 4}

# Valid scenarios whose work is beyond their own limits: `validate` accepts them, `run` refuses them before
# allocating anything (runaway/expected.yaml).
RUNAWAY = {
    "duration_ten_million_s": sub("duration: 60", "duration: 1.0e+7"),
    "arrival_rate_million": sub("{rate: 20}", "{rate: 1.0e+6}"),
    "spike_of_a_million": sub("{poisson: {rate: 20}}",
                              "{poisson: {rate: 20, changes: [{start: 10, duration: 30, rate: 2.0e+6}]}}"),
    "bin_microsecond": add("bin: 1.0e-6\nlimits: {max_memory_mb: 1000}\n"),
    "three_hundred_strategies": sub("strategies:\n  none: {retry: none}\n", "strategies:\n" + "".join(
        f"  s{i}: {{retry: none}}\n" for i in range(300))) + "limits: {max_memory_mb: 50}\n",
}

# Sweep definitions for the command-line cases of test_bad_inputs.py (cli/).
SCENARIO = "../../../scenarios/counters-rate-limited.yaml"
CLI = {
    "grid_no_values": f"scenario: {SCENARIO}\ngrid: {{service.workers: []}}\n",
    "grid_million_points": f"scenario: {SCENARIO}\ngrid:\n" + "".join(
        f"  {k}: [{', '.join(str(v) for v in range(1, 101))}]\n"
        for k in ("service.workers", "service.queue.limit", "clients.clients_per_tenant")),
    "replications_hundred_million": f"scenario: {SCENARIO}\ngrid: {{service.workers: [2, 4]}}\n"
                                    "replications: 100000000\n",
}


def main():
    for old in HERE.glob("*.yaml"):
        if old.name != "expected.yaml":
            old.unlink()
    for old in HERE.glob("*.bin"):
        old.unlink()
    for name, text in CASES.items():
        (HERE / f"{name}.yaml").write_text(text)
    for name, data in BINARY.items():
        (HERE / f"{name}.yaml").write_bytes(data)
    for folder, cases in (("runaway", RUNAWAY), ("cli", CLI)):
        (HERE / folder).mkdir(exist_ok=True)
        for name, text in cases.items():
            (HERE / folder / f"{name}.yaml").write_text(text)


if __name__ == "__main__":
    main()
