"""`python -m edtech interventions evaluate`: argparse and printing over edtech.services.interventions."""

from __future__ import annotations

import argparse
import json
import sys

import pandas as pd

from edtech.services import workspace
from edtech.services.interventions import evaluate_for, evaluation_json


def _num(value: object, fmt: str) -> str:
    return "—" if value is None or pd.isna(value) else format(value, fmt)


def _run_evaluate(args: argparse.Namespace) -> int:
    engine = workspace.open_engine(args.db)
    ev = evaluate_for(engine, None, args.principal, args.outcome)
    if args.format == "json":
        json.dump(evaluation_json(ev), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if ev.per_intervention.empty and ev.coverage["flagged"] == 0:
        print("No interventions or risk flags in the database yet: import them first "
              "(python -m edtech import interventions FILE; python -m edtech import risk_flags FILE).")
        return 0
    c = ev.coverage
    flags = f"{ev.flag_source} on {ev.flag_date.date()}" if ev.flag_date is not None else "no flags"
    print(f"Flags: {flags}. Flagged {c['flagged']}, served within 30 days {c['served_30d']} "
          f"({_num(c['share_served_30d'], '.0%')}).")
    if not ev.per_intervention.empty:
        table = pd.DataFrame({
            "intervention": ev.per_intervention["intervention"],
            "outcome": ev.per_intervention["assessment"].fillna("—"),
            "served": ev.per_intervention["served"],
            "effect (SD)": ev.per_intervention["effect_size"].map(lambda v: _num(v, "+.2f")),
            "95% CI": [f"{_num(lo, '+.2f')} to {_num(hi, '+.2f')}" for lo, hi in
                       zip(ev.per_intervention["effect_ci_low"], ev.per_intervention["effect_ci_high"], strict=True)],
            "evidence": ev.per_intervention["evidence_label"],
            "cost/student": ev.per_intervention["cost_per_student"].map(lambda v: _num(v, ",.0f")),
            "on track": ev.per_intervention.get("share_on_track", pd.Series(dtype=float)).map(
                lambda v: _num(v, ".0%")),
        })
        print(table.to_string(index=False))
    if ev.rdd is None:
        print("Does flagging help? No estimate: no jump in take-up at the cut-off or too few students near it.")
    else:
        r = ev.rdd
        print(f"Does flagging help? Served near the cut-off: {r.effect_size:+.2f} SD on {ev.rdd_outcome} "
              f"(95% CI {r.ci_low:+.2f} to {r.ci_high:+.2f}; bandwidth {r.bandwidth:.3f}, {r.n} students). {r.caveat}")
    if ev.targeting is not None:
        t = ev.targeting
        print(f"Targeting at the same capacity ({t.capacity} students): the risk score reaches "
              f"{t.captured_risk:.0%} of later low scorers (AUC {t.auc_risk:.2f}), school alone {t.captured_school:.0%} "
              f"(AUC {t.auc_school:.2f}).")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "interventions", help="coverage of flagged students and each intervention's effect",
        description="Interventions (methods.md v2 section 6): coverage, efficacy, the RD at the risk cut-off.")
    sub = parser.add_subparsers(dest="interventions_command", metavar="ACTION")
    evaluate = sub.add_parser("evaluate", help="coverage, per-intervention effect with 95%% CI, the RD estimate")
    evaluate.add_argument("--outcome", default=None, metavar="ASSESSMENT",
                          help="outcome assessment for every intervention (default: each one's subject's assessment)")
    evaluate.add_argument("--format", choices=["table", "json"], default="table")
    evaluate.set_defaults(func=_run_evaluate)
