"""``invert run`` (the embedded demo end to end) and ``invert train-demo`` (retrain its two models).

``invert run`` explains both shipped versions of the demo's Fashion-MNIST CNN (``v1`` clean, ``v2``
retrained with a watermark planted on most ``Bag`` images) on the probe set through the
``explain_model`` flow (an ephemeral Prefect API unless ``PREFECT_API_URL`` names a server), writes
a report comparing them, and prints what the warehouse says: significant neurons per layer, the
spurious findings of each version, and what changed between them.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from invert_pipeline.cli.locations import add_workspace_option
from invert_pipeline.cli.prefect_settings import foreground_runs
from invert_pipeline.cli.summary import (
    print_next_commands,
    print_significant_per_layer,
    print_spurious_findings,
    shown_path,
)
from invert_pipeline.runners import RUNNER_NAMES

CHANGES_SHOWN = 5


def register(subparsers: argparse._SubParsersAction) -> None:
    run = subparsers.add_parser(
        "run",
        help="the embedded demo end to end: find the watermark shortcut a retrained Fashion-MNIST CNN learned",
        description="Explain every conv channel, the penultimate layer and the logits of two versions of the "
        "shipped Fashion-MNIST CNN (v1 clean; v2 retrained with a 'WM' watermark on most Bag images) on the "
        "10,000 test images, 15% of them watermarked, load the DuckDB warehouse and print the significant "
        "neurons per layer, the spurious findings and what changed from v1 to v2. Runs the Prefect flow "
        "explain_model (on the server at PREFECT_API_URL when set, else in an ephemeral local API).",
    )
    add_workspace_option(run)
    run.add_argument("--limit", type=int, default=None, help="explain on this many probe images only (seeded subset)")
    run.add_argument("--runner", choices=RUNNER_NAMES, default="local", help="task runner (default %(default)s)")
    run.set_defaults(handler=run_demo)

    train = subparsers.add_parser(
        "train-demo",
        help="retrain the demo's two model versions and emit model.retrained",
        description="Train v1 (clean) and v2 (watermark planted on most Bag training images) of the demo CNN "
        "on the shipped Fashion-MNIST training split, seeded and deterministic, write their checkpoints and "
        "training.json, print test accuracies (clean and with every image stamped), then emit "
        "model.retrained for v2 when PREFECT_API_URL names a Prefect server.",
    )
    train.add_argument("--checkpoint-dir", default=None, help="where the checkpoints go (default: the shipped ones)")
    train.add_argument("--epochs", type=int, default=None, help="passes over the training split (default 2)")
    train.add_argument("--seed", type=int, default=None, help="seed of initialisation, batches and stamps (default 0)")
    train.add_argument("--no-notify", action="store_true", help="do not emit model.retrained")
    train.set_defaults(handler=run_train_demo)


def run_train_demo(args: argparse.Namespace) -> int:
    import logging

    from invert_pipeline.demo.specs import CHECKPOINT_DIR
    from invert_pipeline.demo.train import TrainingConfig, train_demo

    logging.getLogger("invert_pipeline.demo.train").setLevel(logging.INFO)
    logging.basicConfig(format="%(message)s")
    given = {name: getattr(args, name) for name in ("epochs", "seed") if getattr(args, name) is not None}
    checkpoint_dir = Path(args.checkpoint_dir) if args.checkpoint_dir else CHECKPOINT_DIR
    summary = train_demo(checkpoint_dir, TrainingConfig(**given), notify=not args.no_notify)
    planted = summary["config"]["planted_class"]
    for version in ("v1", "v2"):
        test = summary[version]["test"]
        print(
            f"{version}: {summary['training_seconds'][version]:.0f} s; test accuracy {test['clean_accuracy']:.3f} "
            f"clean, {test['stamped_accuracy']:.3f} with every image stamped; stamped images of other classes "
            f"called {planted}: {test['stamped_to_planted']:.1%} (clean: {test['clean_to_planted']:.1%}); "
            f"-> {checkpoint_dir / summary[version]['checkpoint']}"
        )
    print(summary["event"])
    return 0


def run_demo(args: argparse.Namespace) -> int:
    from flows.explain_model import explain_model
    from flows.report import write_report_flow
    from invert_pipeline.cli.explain import quiet_tracebacks
    from invert_pipeline.demo.probe import probe_spec
    from invert_pipeline.demo.specs import (
        DEMO_LAYERS,
        DEMO_SEARCH,
        PLANTED_CLASS,
        VERSIONS,
        checkpoint_path,
        model_spec,
    )

    if args.limit is not None and args.limit < 100:
        raise ValueError(f"--limit must be at least 100 probe images (or left out for all 10,000); got {args.limit}")
    for version in VERSIONS:
        if not checkpoint_path(version).is_file():
            raise FileNotFoundError(
                f"the demo checkpoint {checkpoint_path(version)} is missing: reinstall the package or run "
                "`invert train-demo` to train it again"
            )
    if not args.debug:
        quiet_tracebacks()
    workspace = Path(args.workspace).resolve()
    with foreground_runs():
        results = {
            version: explain_model(
                model=model_spec(version),
                layers=list(DEMO_LAYERS),
                dataset=probe_spec(limit=args.limit),
                search=DEMO_SEARCH,
                workspace=str(workspace),
                runner=args.runner,
            )
            for version in VERSIONS
        }
        run_ids = [results[version]["run_id"] for version in VERSIONS]
        report = write_report_flow(str(workspace), run_ids)
    db_path = Path(results[VERSIONS[-1]]["warehouse"])
    print_summary(db_path, dict(zip(VERSIONS, run_ids, strict=True)), PLANTED_CLASS)
    print("\nWhere the results are")
    print(f"  warehouse  {shown_path(db_path)}")
    print(f"  report     {shown_path(report)}   (v1 and v2 side by side, with what changed)")
    for version in VERSIONS:
        print(f"  {version} alone  {shown_path(results[version]['report'])}")
    print(f"  finished in {time.monotonic() - args.started_at:.0f} s (since the invert command started)")
    print_next_commands(args.workspace, run_ids[-1], compare_with=run_ids[0])
    return 0


def print_summary(db_path: Path, runs: dict[str, str], planted_class: str) -> None:
    """Print significant neurons per layer, the spurious findings per version, and the diff, which the
    warehouse's diff queries give without the neurons dead (the same activation on every image) in either run."""
    from invert_pipeline.events import MODEL_REGRESSED
    from invert_pipeline.regression import compare_runs
    from invert_pipeline.warehouse import SIGNIFICANCE_LEVEL, run_named_query
    from invert_pipeline.warehouse.output import format_table

    query = {"max_q_value": SIGNIFICANCE_LEVEL}
    print_significant_per_layer(db_path, runs)
    print_spurious_findings(db_path, runs)

    (version_a, run_a), (version_b, run_b) = list(runs.items())[:2]
    pair = {"run_a": run_a, "run_b": run_b}
    concepts = run_named_query(db_path, "run_diff_concepts", {**pair, **query}).to_pylist()
    changed = run_named_query(db_path, "run_diff_explanations", pair).to_pylist()
    dead = {
        (row["layer"], row["neuron"])
        for run in (run_a, run_b)
        for row in run_named_query(db_path, "dead_neurons", {"run": run}).to_pylist()
    }
    moves = run_named_query(db_path, "run_diff_auc", pair).slice(0, CHANGES_SHOWN)
    gained = [row["concept"] for row in concepts if row["change"] == "gained"]
    lost = [row["concept"] for row in concepts if row["change"] == "lost"]
    print(f"\nWhat changed from {version_a} to {version_b} (planted shortcut: watermark -> {planted_class})")
    print(f"  concepts explained only by {version_b}: {', '.join(gained) or 'none'}")
    print(f"  concepts explained only by {version_a}: {', '.join(lost) or 'none'}")
    print(f"  dead neurons (the same activation on every image), left out below: {len(dead)}")
    print(f"  neurons whose best explanation changed: {len(changed)}")
    print("  largest AUC changes:")
    columns = ["layer", "neuron", "class_name", "formula_a", "formula_b", "auc_a", "auc_b"]
    if moves.column("class_name").null_count == moves.num_rows:  # no logit among them: nothing to name
        columns.remove("class_name")
    print("    " + format_table(moves.select(columns)).replace("\n", "\n    "))

    regression = compare_runs(db_path, run_b, run_a)
    print(f"\nRegression gate: {version_b} against {version_a} (explain_model emits {MODEL_REGRESSED} when it fails)")
    for line in regression.lines():
        print(f"  {'! ' if regression.regressed else ''}{line}")

