"""`python -m edtech` commands of risk: argparse and printing over edtech.services.risk."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from edtech.cli.exit_codes import EXIT_OK, EXIT_REJECTED, EXIT_USAGE
from edtech.core.access import SYSTEM, Action, Principal
from edtech.core.privacy import neutralize_frame
from edtech.services import workspace
from edtech.services.risk import (
    DEFAULT_DISTRICT_TARGET,
    DEFAULT_K,
    ModelArtifactRefused,
    RiskInputError,
    evaluate_file,
    format_with_range,
    json_default,
    json_ready,
    publish_version,
    result_summary,
    save_version,
    score_district,
    train_district,
)


# ------------------------------------------------------------------------------------------ CLI
def _split_cols(values: list[str] | None) -> list[str]:
    out: list[str] = []
    for v in values or []:
        out += [c.strip() for c in v.split(",") if c.strip()]
    return out


def _k(value: str) -> float:
    k = float(value)
    if not 0 < k <= 1:
        raise argparse.ArgumentTypeError("k is a share of students in (0, 1], e.g. 0.1")
    return k


def _print_summary(summary: dict[str, Any], fmt: str) -> None:
    if fmt == "json":
        print(json.dumps(json_ready(summary), indent=2, default=json_default))
        return
    rows = {"model": summary, **summary["baselines"]}
    keys = ["roc_auc", "pr_auc", "brier", "accuracy", "precision_at_k", "recall_at_k"]
    frame = pd.DataFrame({name: [format_with_range(r, key) for key in keys] for name, r in rows.items()},
                         index=keys).T
    print(f"target {summary['target']}; model {summary['model']}; {summary['validation']}; "
          f"n {summary['n']}, positives {summary['positives']}")
    print(f"values: mean [range] ({summary['range_kind']}); no-information rate {summary['no_information_rate']:.3f}")
    print(frame.to_string())
    for name, reason in summary.get("baselines_not_computed", {}).items():
        print(f"{name}: not computed ({reason})")
    for warning in summary["warnings"]:
        print(f"warning: {warning['column']}: {warning['reason']}")
    print(summary["recommendation_note"])


def _rejected(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_REJECTED


def run_evaluate(args: argparse.Namespace) -> int:
    path = Path(args.data)
    if not path.is_file():
        return _rejected(f"no such file: {path}")
    try:
        result = evaluate_file(path, args.target, exclude=_split_cols(args.exclude), audit=_split_cols(args.audit),
                               k=args.k, validation=args.validation)
    except RiskInputError as exc:
        return _rejected(str(exc))
    _print_summary(result_summary(result), args.format)
    return EXIT_OK


def _principal(args: argparse.Namespace) -> Principal:
    """Who runs the command (`python -m edtech --as EMAIL`; the director by default)."""
    return getattr(args, "principal", None) or SYSTEM


def run_train(args: argparse.Namespace) -> int:
    principal = _principal(args)
    principal.require(Action.PUBLISH_MODEL)  # storing a version: refuse before minutes of training
    engine = workspace.open_engine(args.db)
    try:
        trained = train_district(workspace.Workspace(engine).whole, args.target, k=args.k, validation=args.validation,
                                 exclude=_split_cols(args.exclude), audit=_split_cols(args.audit))
    except RiskInputError as exc:
        return _rejected(str(exc))
    version = save_version(engine, trained, principal=principal)
    summary = result_summary(trained.result)
    summary["model_version"] = version
    _print_summary(summary, args.format)
    print(f"stored as model version {version}; the board report and `risk score` use it once published: "
          f"python -m edtech risk publish {version}", file=sys.stderr)
    return EXIT_OK


def run_score(args: argparse.Namespace) -> int:
    engine = workspace.open_engine(args.db)
    try:
        scored = score_district(engine, args.version, k=args.k, principal=_principal(args))
    except ModelArtifactRefused as exc:
        return _rejected(str(exc))
    except (RiskInputError, KeyError) as exc:
        return _rejected(str(exc).strip("'\""))
    if args.format == "json":
        print(scored.to_json(orient="records"))
    else:
        sys.stdout.write(neutralize_frame(scored).to_csv(index=False))
    return EXIT_OK


def run_publish(args: argparse.Namespace) -> int:
    engine = workspace.open_engine(args.db)
    try:
        info = publish_version(engine, args.version, principal=_principal(args))
    except ModelArtifactRefused as exc:
        return _rejected(str(exc))
    except KeyError as exc:
        return _rejected(str(exc).strip("'\""))
    print(f"published model version {info['id']} ({info['model_name']}, target {info['target']}): the board "
          "report, the worklist and `risk score` now use it")
    return EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("risk", help="at-risk model: evaluate on a file, train on the database, publish, "
                                               "score",
                                   description="Early-warning model (methods.md section 4).")
    sub = parser.add_subparsers(dest="risk_command", metavar="SUBCOMMAND")
    parser.set_defaults(func=lambda args: (parser.print_help(), EXIT_USAGE)[1])

    ev = sub.add_parser("evaluate", help="cross-validated model on any student table file")
    ev.add_argument("--data", required=True, help="student table (CSV any delimiter, xlsx, parquet)")
    ev.add_argument("--target", required=True, help="a 0/1 column or a comparison such as 'G3 < 10'")
    ev.add_argument("--exclude", action="append", help="columns to leave out (comma-separated; repeatable)")
    ev.add_argument("--audit", action="append",
                    help="extra audit-only columns: used for the fairness audit, never as inputs (comma-separated; "
                         "repeatable). Race, ethnicity, gender, sex, FRL, ELL, IEP, disability, nationality, age band, "
                         "deprivation index... are audit-only already")
    ev.add_argument("--k", type=_k, default=DEFAULT_K, help="intervention capacity share (default 0.1)")
    ev.add_argument("--validation", choices=["auto", "kfold", "temporal", "group"], default="auto")
    ev.add_argument("--format", choices=["json", "table"], default="json")
    ev.set_defaults(func=run_evaluate)

    tr = sub.add_parser("train", help="train on the database and store a model version")
    tr.add_argument("--target", default=DEFAULT_DISTRICT_TARGET, help="indicator column or comparison")
    tr.add_argument("--exclude", action="append")
    tr.add_argument("--audit", action="append", help="extra audit-only columns (comma-separated; repeatable)")
    tr.add_argument("--k", type=_k, default=DEFAULT_K)
    tr.add_argument("--validation", choices=["auto", "kfold", "temporal", "group"], default="auto")
    tr.add_argument("--format", choices=["json", "table"], default="json")
    tr.set_defaults(func=run_train)

    pb = sub.add_parser("publish", help="publish a stored model version (director): the board report, the "
                                        "worklist and `risk score` use the most recently published one")
    pb.add_argument("version", type=int, metavar="VERSION", help="model version id (printed by `risk train`)")
    pb.set_defaults(func=run_publish)

    sc = sub.add_parser("score", help="score the latest students with a stored model version")
    sc.add_argument("--version", type=int, default=None, help="model version id (default: the published one)")
    sc.add_argument("--k", type=_k, default=DEFAULT_K)
    sc.add_argument("--format", choices=["csv", "json"], default="csv")
    sc.set_defaults(func=run_score)
