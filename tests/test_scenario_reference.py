"""The scenario JSON Schema and docs/scenario-reference.md are generated from the models and cannot drift."""
import json
from pathlib import Path

import pytest
import yaml

from resilsim.cli import main
from resilsim.scenario.reference import MODELINE, SCHEMA_FILE, json_schema, reference_markdown

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
#: Published experiments rebuilt as scenarios (docs/published.md), one folder down, and their sweeps.
PUBLISHED = sorted((ROOT / "scenarios" / "published").glob("*.yaml"))
PUBLISHED_SWEEPS = sorted((ROOT / "scenarios" / "published" / "sweeps").glob("*.yaml"))


def test_committed_reference_page_is_the_generated_one():
    page = (ROOT / "docs" / "scenario-reference.md").read_text()
    assert page == reference_markdown(ROOT / "scenarios"), \
        "docs/scenario-reference.md is stale: run python -m resilsim.scenario.reference"


def test_reference_lists_every_field_of_the_models_with_unit_and_default():
    page = reference_markdown(ROOT / "scenarios")
    assert "| `duration` | number | s | *required* | `480` (analytics-aurora-db-service.yaml) |" in page
    assert "| `warmup` | number | s | `0.0` |" in page
    from resilsim.scenario.schema import Queue, RetrySpec
    for model in (Queue, RetrySpec):
        section = page.split(f"## {model.__name__}\n", 1)[1].split("\n## ", 1)[0]
        assert [line.split("`")[1] for line in section.splitlines() if line.startswith("| `")] == list(model.model_fields)


def test_schema_command_prints_the_committed_schema(capsys):
    assert main(["schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((ROOT / SCHEMA_FILE).read_text()) == json_schema()


@pytest.mark.parametrize("path", SCENARIOS + PUBLISHED, ids=lambda p: str(p.relative_to(ROOT / "scenarios")))
def test_every_shipped_scenario_names_the_schema_and_validates_against_it(path):
    jsonschema = pytest.importorskip("jsonschema")
    first = path.read_text().splitlines()[0]
    up = "../" * len(path.relative_to(ROOT).parts[:-1])  # scenarios/x.yaml: ../; scenarios/published/x.yaml: ../../
    assert first == MODELINE.format(path=f"{up}{SCHEMA_FILE}")
    assert (path.parent / f"{up}{SCHEMA_FILE}").resolve() == (ROOT / SCHEMA_FILE).resolve()
    jsonschema.Draft202012Validator(json_schema()).validate(yaml.safe_load(path.read_text()))


def test_the_published_folder_is_found():
    assert {p.name for p in PUBLISHED} >= {"brooker-retry-sim.yaml", "brooker-retry-sim-serial.yaml"}
    assert {p.name for p in PUBLISHED_SWEEPS} >= {"brooker-retry-sim.yaml", "brooker-retry-sim-serial.yaml"}


@pytest.mark.parametrize("path", PUBLISHED + PUBLISHED_SWEEPS, ids=lambda p: str(p.relative_to(ROOT / "scenarios")))
def test_resilsim_validate_accepts_every_published_scenario_and_sweep(path, capsys):
    # The loader's own checks (codes of the API's catalog, stops, guards), beyond the JSON Schema's shapes;
    # a sweep definition is checked with its scenario and its grid.
    assert main(["validate", str(path)]) == 0, capsys.readouterr().err


def test_schema_rejects_what_the_loader_rejects():
    jsonschema = pytest.importorskip("jsonschema")
    data = yaml.safe_load(SCENARIOS[0].read_text())
    data["service"]["wokers"] = 3
    with pytest.raises(jsonschema.ValidationError, match="wokers"):
        jsonschema.Draft202012Validator(json_schema()).validate(data)
    data = yaml.safe_load(SCENARIOS[0].read_text())
    data["faults"]["incidents"][0].pop("duration")  # no `use:` to supply it
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(json_schema()).validate(data)


def test_axis_labels_of_swept_keys_carry_their_unit():
    from resilsim.scenario.reference import axis_label

    assert axis_label("clients.arrival.poisson.rate") == "clients.arrival.poisson.rate (1/s)"
    assert axis_label("service.workers") == "service.workers (count)"
    assert axis_label("clients.timeout") == "clients.timeout (s)"
    assert axis_label("strategies.mine.retry.stop.attempts") == "strategies.mine.retry.stop.attempts (count)"
    assert axis_label("not.a.field") == "not.a.field"  # no unit to claim
