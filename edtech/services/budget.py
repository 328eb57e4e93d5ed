"""Budget scenario use cases: inputs from the database, one scenario's full result, exports,
the `scenario run` command and the recompute benchmark."""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy.engine import Engine

from edtech.budget import projection as budget
from edtech.budget.montecarlo import DEFAULT_DRAWS, MonteCarloResult, simulate_budget
from edtech.core.district import District
from edtech.core.privacy import neutralize_frame
from edtech.roi import engine as roi
from edtech.store import data

EXIT_OK, EXIT_USAGE, EXIT_REJECTED = 0, 2, 3
MAX_COMPARED = 4  # scenarios side by side with the baseline


@dataclass
class ScenarioResult:
    """Everything the page and the CLI show for one scenario."""

    scenario: budget.Scenario
    projection: budget.Projection
    savings: pd.DataFrame  # per lever (waterfall)
    bands: MonteCarloResult


def budget_inputs(district: District, weights: dict[str, float] | None = None) -> budget.BudgetInputs:
    """District → BudgetInputs, with effects and ROI scores from the ROI engine."""
    if district.is_empty or len(district.licenses) == 0:
        return budget.inputs_from_district(district)
    scored = roi.score_tools(district, weights=weights)
    return budget.inputs_from_district(district, scored)


def load_inputs(engine: Engine, scope: frozenset[str] | None = None) -> budget.BudgetInputs:
    from edtech.services.roi import load_weights  # saved ROI weights, so sunset-below-score matches the ROI page

    data.init_db(engine)
    return budget_inputs(data.load_district(engine, scope=scope), load_weights(engine))


def run_scenario(inputs: budget.BudgetInputs, spec: dict[str, Any] | budget.Scenario, *,
                 draws: int = DEFAULT_DRAWS, seed: int = 2025) -> ScenarioResult:
    """Project one scenario: per-year table, savings by lever, Monte Carlo bands."""
    scenario = spec if isinstance(spec, budget.Scenario) else budget.scenario_from_dict(spec)
    projection = budget.project_budget(inputs, scenario)
    return ScenarioResult(
        scenario=scenario, projection=projection, savings=budget.savings_by_lever(inputs, scenario),
        bands=simulate_budget(inputs, scenario, draws=draws, seed=seed, projection=projection),
    )


def comparison_table(results: list[ScenarioResult]) -> pd.DataFrame:
    """One row per scenario: horizon totals people compare side by side."""
    rows = []
    for r in results:
        s = r.projection.summary
        spend_band = r.bands.bands[r.bands.bands["metric"] == "spend"]
        rows.append({
            "scenario": r.scenario.name, "years": f"FY{r.projection.years[0]}–FY{r.projection.years[-1]}",
            "total_spend": s["total_spend"], "savings_vs_baseline": s["total_savings"],
            "year1_savings": s["year1_savings"], "available_funding": s["total_available_funding"],
            "total_gap": s["total_gap"], "years_with_gap": s["years_with_gap"],
            "students_at_dosage_year1": s["students_at_dosage_year1"], "expected_impact": s["expected_impact"],
            "spend_p10": float(spend_band["p10"].sum()), "spend_p90": float(spend_band["p90"].sum()),
        })
    return pd.DataFrame(rows)


def long_table(results: list[ScenarioResult]) -> pd.DataFrame:
    """Per scenario × fiscal year (the CSV download)."""
    frames = [budget.projection_table(r.projection).assign(scenario=r.scenario.name) for r in results]
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return out[["scenario", *[c for c in out.columns if c != "scenario"]]] if len(out) else out


def to_csv_bytes(results: list[ScenarioResult]) -> bytes:
    return neutralize_frame(long_table(results)).to_csv(index=False).encode("utf-8")


def to_excel_bytes(results: list[ScenarioResult]) -> bytes:
    """Workbook: Summary, By year (all scenarios), then per scenario its sources, tools and bands."""
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        neutralize_frame(comparison_table(results)).to_excel(writer, sheet_name="Summary", index=False)
        neutralize_frame(long_table(results)).to_excel(writer, sheet_name="By year", index=False)
        for i, r in enumerate(results, start=1):
            prefix = f"S{i}"
            neutralize_frame(r.projection.by_source.round(2)).to_excel(writer, sheet_name=f"{prefix} by source",
                                                                      index=False)
            neutralize_frame(r.projection.by_tool.round(2)).to_excel(writer, sheet_name=f"{prefix} by tool",
                                                                    index=False)
            r.bands.bands.round(2).to_excel(writer, sheet_name=f"{prefix} uncertainty", index=False)
        names = pd.DataFrame({"sheet prefix": [f"S{i}" for i in range(1, len(results) + 1)],
                              "scenario": [r.scenario.name for r in results],
                              "spec (JSON)": [json.dumps(r.scenario.to_dict()) for r in results]})
        neutralize_frame(names).to_excel(writer, sheet_name="Scenarios", index=False)
    return buffer.getvalue()


# --------------------------------------------------------------------------- saved scenarios

def save_scenario(engine: Engine, spec: dict[str, Any]) -> str:
    """Validate and save under its name (replacing a saved one of that name); returns the name."""
    scenario = budget.scenario_from_dict(spec)
    data.save_scenario(engine, scenario.name, scenario.to_dict())
    return scenario.name


def saved_scenarios(engine: Engine) -> list[str]:
    # data.list_scenarios may hand back one-column rows instead of strings: normalize
    return [name if isinstance(name, str) else str(name[0]) for name in data.list_scenarios(engine)]


def load_saved_scenario(engine: Engine, name: str) -> dict[str, Any] | None:
    """A saved spec, normalized (raises ScenarioError when it no longer validates)."""
    spec = data.load_scenario(engine, name)
    return None if spec is None else budget.scenario_from_dict(spec).to_dict()


def delete_saved_scenario(engine: Engine, name: str) -> None:
    data.delete_scenario(engine, name)


# --------------------------------------------------------------------------- CLI

def _json_number(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 2)
    if hasattr(value, "item"):
        return _json_number(value.item())
    return value


def _cmd_run(args: argparse.Namespace) -> int:
    path = Path(args.spec)
    if not path.is_file():
        print(f"error: scenario file not found: {path}", file=sys.stderr)
        return EXIT_USAGE
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        print(f"error: {path} is not valid JSON: {exc}", file=sys.stderr)
        return EXIT_REJECTED
    try:
        scenario = budget.scenario_from_dict(spec)
    except budget.ScenarioError as exc:
        print(f"error: scenario rejected: {exc}", file=sys.stderr)
        return EXIT_REJECTED
    engine = data.make_engine(args.db)
    inputs = load_inputs(engine)
    if inputs.is_empty:
        print("No licenses, devices or funding in the database yet: import data first "
              "(python -m edtech demo loads the sample district).", file=sys.stderr)
    result = run_scenario(inputs, scenario, draws=args.draws, seed=args.seed)
    table = budget.projection_table(result.projection)
    if args.format == "json":
        payload = {
            "scenario": scenario.to_dict(),
            "years": [{k: _json_number(v) for k, v in row.items()} for row in table.to_dict(orient="records")],
            "summary": {k: _json_number(v) for k, v in result.projection.summary.items()},
            "savings_by_lever": [{k: _json_number(v) for k, v in row.items()}
                                 for row in result.savings.to_dict(orient="records")],
            "uncertainty": [{k: _json_number(v) for k, v in row.items()}
                            for row in result.bands.bands.to_dict(orient="records")],
            "monte_carlo": {"draws": result.bands.draws, "seed": result.bands.seed},
        }
        json.dump(payload, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    shown = table.set_index("fiscal_year").T
    shown.columns = [f"FY{y}" for y in shown.columns]
    print(f"Scenario: {scenario.name}  (horizon {scenario.horizon_years} years, "
          f"{len(inputs.tools)} tools, {sum(c.count for c in inputs.devices):,} devices)")
    print(shown.to_string(float_format=lambda v: f"{v:,.2f}"))
    s = result.projection.summary
    print()
    print(f"Total spend ${s['total_spend']:,.2f} vs baseline ${s['baseline_spend']:,.2f}: "
          f"savings ${s['total_savings']:,.2f} (year 1: ${s['year1_savings']:,.2f})")
    print(f"Funding gap ${s['total_gap']:,.2f} over {s['years_with_gap']} year(s); "
          f"expected impact {s['expected_impact']:,.1f} SD x students (baseline {s['baseline_impact']:,.1f})")
    return EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("scenario", help="budget scenarios: project a what-if over 1-5 fiscal years",
                                   description="Budget scenarios (methods.md section 5).")
    sub = parser.add_subparsers(dest="scenario_command", metavar="ACTION")
    run = sub.add_parser("run", help="project SPEC.json: per-year spend, funding gap, savings, impact, P10/P50/P90",
                         description="Project a scenario spec (JSON: name, horizon_years, start_fiscal_year, "
                                     "assumptions, levers) against the district in the database.")
    run.add_argument("spec", metavar="SPEC.json")
    run.add_argument("--format", choices=["table", "json"], default="table")
    run.add_argument("--draws", type=int, default=DEFAULT_DRAWS, help="Monte Carlo draws (default 2000)")
    run.add_argument("--seed", type=int, default=2025)
    run.set_defaults(func=_cmd_run)

    def _usage(args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return EXIT_USAGE

    parser.set_defaults(func=_usage)


# --------------------------------------------------------------------------- benchmark

def bench_budget(n_students: int = 6000, seed: int = 2025, repeats: int = 5) -> dict[str, float]:
    """Milliseconds to recompute after one lever edit (projection + savings waterfall + 2,000-draw
    Monte Carlo), warm: the district's inputs are built once, as the page caches them."""
    from edtech.sample.generate import generate_district

    started = time.perf_counter()
    district = generate_district(n_students=n_students, seed=seed).district
    inputs = budget_inputs(district)
    inputs_done = time.perf_counter()
    spec = {"name": "bench", "horizon_years": 5, "levers": {"right_size_all": True, "sunset_below_roi": 30}}
    run_scenario(inputs, spec)  # warm-up
    timings = []
    for i in range(repeats):
        spec["levers"]["right_size_buffer"] = 0.05 * (i + 1)  # the lever edit
        t0 = time.perf_counter()
        run_scenario(inputs, spec)
        timings.append(time.perf_counter() - t0)
    timings.sort()
    return {
        "n_students": float(n_students), "tools": float(len(inputs.tools)),
        "device_cohorts": float(len(inputs.devices)), "draws": float(DEFAULT_DRAWS),
        "inputs_seconds": round(inputs_done - started, 3),
        "recompute_ms_median": round(1000 * timings[len(timings) // 2], 1),
        "recompute_ms_max": round(1000 * timings[-1], 1),
        "target_ms": 200.0,
    }
