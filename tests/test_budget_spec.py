"""The scenario spec, documented from the code: `scenario schema` is generated from the dataclasses the
validator reads, `scenario example` prints a complete spec that validates against it, and `scenario run`
projects that example against a database."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import jsonschema
import pandas as pd
import pytest

from edtech.budget.projection import (
    Levers,
    Scenario,
    ScenarioError,
    scenario_from_dict,
    scenario_json_schema,
)
from edtech.cli.parser import main
from edtech.services.budget import example_spec
from edtech.store import data


def validator() -> jsonschema.Draft202012Validator:
    schema = scenario_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_schema_describes_every_field_with_the_validators_bounds() -> None:
    schema = scenario_json_schema()
    assert set(schema["properties"]) == {f.name for f in fields(Scenario)}
    levers = schema["$defs"]["Levers"]["properties"]
    assert set(levers) == {f.name for f in fields(Levers)}
    assert levers["right_size_buffer"]["default"] == 0.10 and levers["right_size_buffer"]["maximum"] == 5.0
    assert schema["properties"]["horizon_years"]["maximum"] == 5
    assert schema["$defs"]["OneOffPurchase"]["properties"]["category"]["enum"] == ["licenses", "devices", "pd", "other"]
    assert schema["$defs"]["FundingChange"]["required"] == ["source"]
    assert all(p.get("description") for p in levers.values())  # every lever documented


def test_example_is_complete_and_valid_for_both_the_schema_and_the_validator() -> None:
    spec = example_spec()
    validator().validate(spec)
    scenario = scenario_from_dict(spec)
    assert scenario.to_dict() == spec  # nothing dropped or defaulted on the way in
    lv = spec["levers"]
    for name, value in lv.items():  # every lever is set (lists non-empty, optional ones not null)
        if name != "right_size_all":
            assert value not in (None, [], 0.0), name
    assert {c["ends_after"] is not None for c in lv["funding_changes"]} == {True, False}  # both kinds of change


@pytest.mark.parametrize("spec", [
    {"horizon_years": 7},
    {"horizon_years": "three"},
    {"levers": {"right_size_bufer": 0.1}},
    {"assumptions": {"escalator": None}},
    {"assumptions": {"device_cost_basis": "lease"}},
    {"levers": {"right_size_all": "yes"}},
    {"levers": {"sunset_below_roi": 120}},
    {"levers": {"one_off_purchases": [{"name": "x", "fiscal_year": 2027, "amount": 1, "category": "food"}]}},
    {"levers": {"one_off_purchases": [{"name": "x", "fiscal_year": 2027}]}},
    {"levers": {"expansions": [{"schools": ["a"]}]}},
    {"levers": {"funding_changes": [{"source": "esser"}]}},
    {"levers": {"funding_changes": [{"source": "esser", "amount": 5}]}},
    {"levers": {"funding_changes": [{"source": "esser", "ends_after": 2027, "fiscal_year": 2027, "amount": 5}]}},
])
def test_schema_and_validator_reject_the_same_specs(spec: dict) -> None:
    with pytest.raises(ScenarioError):
        scenario_from_dict(spec)
    assert list(validator().iter_errors(spec)), spec


@pytest.mark.parametrize("spec", [
    {},
    {"start_fiscal_year": None, "levers": {"refresh_cycle_years": None, "sunset_below_roi": None}},
    {"levers": {"funding_changes": [{"source": "esser", "ends_after": 2027},
                                    {"source": "new_grant", "fiscal_year": 2028, "amount": 0}]}},
    {"levers": {"right_size_tools": ["T01", 7]}},
])
def test_schema_and_validator_accept_the_same_specs(spec: dict) -> None:
    scenario_from_dict(spec)
    validator().validate(spec)


@pytest.fixture
def tiny_db(tmp_path: Path) -> str:
    """Three schools, three licensed tools and a grant: enough for the example and a projection."""
    url = f"sqlite:///{tmp_path / 'tiny.db'}"
    engine = data.make_engine(url)
    data.init_db(engine)
    frames = {
        "schools": pd.DataFrame({"school_id": ["S1", "S2", "S3"], "school_name": ["A", "B", "C"],
                                 "level": ["elementary", "middle", "high"]}),
        "tools": pd.DataFrame({"tool_id": ["MATH", "READ", "CODE"], "tool_name": ["Math", "Read", "Code"],
                               "vendor": ["v"] * 3, "category": ["math", "ela", "cs"]}),
        "licenses": pd.DataFrame({"tool_id": ["MATH", "READ", "CODE"], "school_id": ["S1", None, None],
                                  "seats": ["100", "300", "50"], "annual_cost": ["9000", "12000", "1500"],
                                  "start_date": ["2025-07-01"] * 3, "end_date": ["2026-06-30"] * 3,
                                  "funding_source": ["general", "esser", "general"],
                                  "price_escalator_pct": ["0.04", "0.05", ""]}),
        "funding": pd.DataFrame({"fiscal_year": ["2026", "2027", "2027"], "source": ["general", "general", "esser"],
                                 "amount": ["50000", "51000", "12000"]}),
    }
    for kind, frame in frames.items():
        report = data.import_frame(engine, kind, frame.astype(str).replace({"None": ""}), file_name=f"{kind}.csv")
        assert report.ok, report.error_lines()
    engine.dispose()
    return url


def test_cli_example_schema_and_run(tiny_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", tiny_db, "scenario", "schema"]) == 0
    assert json.loads(capsys.readouterr().out) == scenario_json_schema()

    assert main(["--db", tiny_db, "scenario", "example"]) == 0
    spec = json.loads(capsys.readouterr().out)
    validator().validate(spec)
    lv = spec["levers"]
    # realistic ids: the database's tools (most expensive first), schools and grant
    assert lv["right_size_tools"] == ["READ", "MATH"] and lv["sunset_tools"] == ["CODE"]
    assert lv["expansions"][0]["schools"] == ["S1"]
    assert lv["funding_changes"][0] == {"source": "esser", "fiscal_year": None, "amount": None, "ends_after": 2026}
    assert spec["start_fiscal_year"] == 2027

    path = tmp_path / "example.json"
    path.write_text(json.dumps(spec))
    assert main(["--db", tiny_db, "scenario", "run", str(path), "--format", "json", "--draws", "200"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [row["fiscal_year"] for row in out["years"]] == [2027, 2028, 2029]
    assert out["summary"]["total_savings"] > 0  # right-size + sunset CODE
    horizon = {row["metric"]: row for row in out["uncertainty_horizon"]}
    assert horizon["spend"]["p10"] <= out["summary"]["total_spend"] <= horizon["spend"]["p90"]
    # the grant ended after FY2026: no ESSER in FY2027, so READ's ESSER line is short by its whole cost
    assert out["years"][0]["available_funding"] == pytest.approx(51_000.0)

    assert main(["--db", tiny_db, "scenario", "run", str(path)]) == 0
    assert "P10–P90 of simulated totals" in capsys.readouterr().out
    path.write_text(json.dumps({**spec, "horizon_years": 9}))
    assert main(["--db", tiny_db, "scenario", "run", str(path)]) == 3
    assert "horizon_years must be ≤ 5" in capsys.readouterr().err
