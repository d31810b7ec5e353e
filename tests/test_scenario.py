import pytest

from resilsim import ScenarioError, load_scenario, with_overrides
from resilsim.scenario import dump_scenario

from .conftest import small


def test_loads_a_dict_and_freezes_it():
    s = load_scenario(small())
    assert s.service.workers == 8
    with pytest.raises(Exception):
        s.duration = 5


def test_overrides_make_a_new_scenario_and_leave_the_callers_alone():
    d = small()
    s = load_scenario(d)
    t = with_overrides(s, ["service.workers=16", "clients.arrival.poisson.rate=7.5"])
    assert (t.service.workers, t.clients.arrival.poisson.rate) == (16, 7.5)
    assert s.service.workers == 8 and d["service"]["workers"] == 8


def test_unknown_key_says_did_you_mean(tmp_path):
    p = tmp_path / "x.yaml"
    p.write_text("api: analytics\nduration: 60\nservice:\n  workers: 4\n  wrokers: 5\nclients:\n  arrival: {poisson: {rate: 1}}\n")
    with pytest.raises(ScenarioError) as e:
        load_scenario(p)
    assert str(e.value).startswith(f"{p}:5: service.wrokers: unknown field 'wrokers'; did you mean 'workers'?")


def test_negative_rate_names_field_and_line(tmp_path):
    p = tmp_path / "x.yaml"
    p.write_text("api: analytics\nduration: 60\nservice: {workers: 4}\nclients:\n  arrival:\n    poisson: {rate: -3}\n")
    with pytest.raises(ScenarioError) as e:
        load_scenario(p)
    assert str(e.value) == f"{p}:6: clients.arrival.poisson.rate: Input should be greater than 0 (got -3)"


def test_unknown_code_names_the_closest():
    d = small(faults={"background": {"ANALYTICS_1909": 0.01}})
    with pytest.raises(ScenarioError, match=r"faults.background.ANALYTICS_1909: unknown analytics error code 'ANALYTICS_1909'; closest: ANALYTICS_1900"):
        load_scenario(d)


def test_code_of_another_api_is_refused():
    d = small(faults={"background": {"-1000": 0.01}})
    with pytest.raises(ScenarioError, match="unknown analytics error code '-1000'"):
        load_scenario(d)


def test_deadline_shorter_than_timeout():
    d = small(clients={"arrival": {"poisson": {"rate": 1}}, "timeout": 10, "deadline": 5})
    with pytest.raises(ScenarioError, match=r"deadline \(5.0 s\) is shorter than the attempt timeout \(10.0 s\)"):
        load_scenario(d)


def test_unknown_preset():
    with pytest.raises(ScenarioError, match="strategies.x.retry: unknown retry preset 'analytics-doc'"):
        load_scenario(small(strategies={"x": {"retry": "analytics-doc"}}))


def test_yaml_syntax_error_and_empty_file(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("api: [analytics\n")
    with pytest.raises(ScenarioError, match=r"bad.yaml:\d+: is not valid YAML"):
        load_scenario(p)
    p.write_text("")
    with pytest.raises(ScenarioError, match="is empty"):
        load_scenario(p)


def test_alias_bomb_is_refused(tmp_path):
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}" if i > 1 else "*a"] * 10) + "]")
    p = tmp_path / "bomb.yaml"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(ScenarioError, match="alias bomb"):
        load_scenario(p)


def test_incident_after_the_run_ends():
    d = small(faults={"incidents": [{"start": 100, "duration": 10, "code": "ANALYTICS_1900"}]})
    with pytest.raises(ScenarioError, match="starts at 100.0 s, after the run ends"):
        load_scenario(d)


def test_dump_roundtrips():
    s = load_scenario(small())
    assert load_scenario(dump_scenario(s)) == s


@pytest.mark.parametrize("path", sorted(__import__("pathlib").Path(__file__).parents[1].joinpath("scenarios").glob("*.yaml")))
def test_shipped_scenarios_validate(path):
    load_scenario(path)


def test_scenario_models_build_their_validators_on_first_use_and_fields_resolve_for_their_walkers():
    """The scenario models are deferred (defer_build): importing builds none of their validators (each built its
    own before, ~0.05-0.07 s CPU of every `resilsim run`), loading a scenario builds what it uses, and
    complete_models() resolves the forward references that load.py's messages and the reference walk."""
    import subprocess
    import sys
    import typing

    code = ("import resilsim.scenario.schema as s\n"
            "ms = [m for m in vars(s).values() if isinstance(m, type) and issubclass(m, s.Model)]\n"
            "print(len(ms), sum(m.__pydantic_complete__ for m in ms))\n")
    total, built = map(int, subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                           check=True).stdout.split())
    assert total > 50 and built == 0
    from resilsim.scenario import schema

    schema.complete_models()
    models = [m for m in vars(schema).values() if isinstance(m, type) and issubclass(m, schema.Model)]
    unresolved = [(m.__name__, n) for m in models for n, f in m.model_fields.items()
                  if isinstance(f.annotation, (str, typing.ForwardRef))]
    assert unresolved == []
