"""`python -m edtech` commands of budget: argparse and printing over edtech.services.budget."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from edtech.cli.exit_codes import EXIT_OK, EXIT_REJECTED, EXIT_USAGE
from edtech.core.access import Action
from edtech.core.format import money
from edtech.services import workspace
from edtech.services.budget import (
    DEFAULT_DRAWS,
    ScenarioError,
    example_for_database,
    inputs_from_database,
    projection_table,
    run_scenario,
    scenario_from_dict,
    scenario_json_schema,
)


def _json_number(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 2)
    if hasattr(value, "item"):
        return _json_number(value.item())
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _json_number(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


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
        scenario = scenario_from_dict(spec)
    except ScenarioError as exc:
        print(f"error: scenario rejected: {exc}", file=sys.stderr)
        return EXIT_REJECTED
    args.principal.require(Action.EDIT_BUDGET)
    inputs = inputs_from_database(workspace.open_engine(args.db))
    if inputs.is_empty:
        print("No licenses, devices or funding in the database yet: import data first "
              "(python -m edtech demo loads the sample district).", file=sys.stderr)
    result = run_scenario(inputs, scenario, draws=args.draws, seed=args.seed)
    table = projection_table(result.projection)
    if args.format == "json":
        payload = {
            "scenario": scenario.to_dict(),
            "years": _records(table),
            "summary": {k: _json_number(v) for k, v in result.projection.summary.items()},
            "savings_by_lever": _records(result.savings),
            "uncertainty": _records(result.bands.bands),
            "uncertainty_horizon": _records(result.bands.totals),
            "monte_carlo": {"draws": result.bands.draws, "seed": result.bands.seed},
        }
        json.dump(payload, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    shown = table.set_index("fiscal_year").T
    shown.columns = [f"FY{y}" for y in shown.columns]
    print(f"Scenario: {scenario.name}  (FY{result.projection.years[0]}–FY{result.projection.years[-1]}, "
          f"{len(inputs.tools)} tools, {sum(c.count for c in inputs.devices):,} devices)")
    print(shown.to_string(float_format=lambda v: f"{v:,.2f}"))
    s = result.projection.summary
    band = result.bands.horizon_band("spend")
    print()
    print(f"Total spend {money(s['total_spend'], 2)} (P10–P90 of simulated totals: {money(band['p10'])} – "
          f"{money(band['p90'])}) vs baseline {money(s['baseline_spend'], 2)}: savings {money(s['total_savings'], 2)} "
          f"over the horizon (year 1: {money(s['year1_savings'], 2)})")
    print(f"Funding gap {money(s['total_gap'], 2)} over {s['years_with_gap']} year(s); "
          f"expected impact {s['expected_impact']:,.1f} SD x students (baseline {s['baseline_impact']:,.1f})")
    return EXIT_OK


def _cmd_example(args: argparse.Namespace) -> int:
    spec = example_for_database(workspace.open_engine(args.db))
    json.dump(spec, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return EXIT_OK


def _cmd_schema(args: argparse.Namespace) -> int:
    json.dump(scenario_json_schema(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("scenario", help="budget scenarios: project a what-if over 1-5 fiscal years",
                                   description="Budget scenarios (methods.md section 5). `scenario example` prints a "
                                               "complete spec, `scenario schema` its JSON Schema.")
    sub = parser.add_subparsers(dest="scenario_command", metavar="ACTION")
    run = sub.add_parser("run", help="project SPEC.json: per-year spend, funding gap, savings, impact, P10/P50/P90",
                         description="Project a scenario spec (JSON: name, horizon_years, start_fiscal_year, "
                                     "assumptions, levers; see `scenario schema`) against the district in the "
                                     "database.")
    run.add_argument("spec", metavar="SPEC.json")
    run.add_argument("--format", choices=["table", "json"], default="table")
    run.add_argument("--draws", type=int, default=DEFAULT_DRAWS, help="Monte Carlo draws (default 2000)")
    run.add_argument("--seed", type=int, default=2025)
    run.set_defaults(func=_cmd_run)
    example = sub.add_parser("example", help="print a complete, valid scenario spec (every lever set)",
                             description="Print a scenario spec that sets every lever, with tool ids, schools and "
                                         "funding sources from the database when it has some.")
    example.set_defaults(func=_cmd_example)
    schema = sub.add_parser("schema", help="print the scenario spec's JSON Schema",
                            description="Print the JSON Schema (2020-12) of a scenario spec, generated from the "
                                        "code that validates it.")
    schema.set_defaults(func=_cmd_schema)

    def _usage(args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return EXIT_USAGE

    parser.set_defaults(func=_usage)
