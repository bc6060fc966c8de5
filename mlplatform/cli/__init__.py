"""`mlplatform` command line: predict with the champion, serve it over HTTP, show or roll back
the champion, summarize what was built, recover from runs that were killed, prune what the
retention policy no longer keeps, refresh the cached Airbyte workspace."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict


def build_parser() -> argparse.ArgumentParser:
    """Every command and option (the reference in docs/reference/cli.md is generated from it)."""
    parser = argparse.ArgumentParser(prog="mlplatform", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    predict = commands.add_parser("predict", help="tag a project with the champion model")
    predict.add_argument("title")
    predict.add_argument("description")
    predict.add_argument(
        "--precision-mode", action="store_true", help="answer 'other' when the model is unsure"
    )
    predict.add_argument("--version", help="a registry version instead of the champion")

    serve = commands.add_parser(
        "serve", help="answer predictions over HTTP with the champion, following promotions"
    )
    serve.add_argument("--host", help="address to bind (default: MLPLATFORM_SERVE_HOST)")
    serve.add_argument("--port", type=int, help="port (default: MLPLATFORM_SERVE_PORT)")

    commands.add_parser("champion", help="show the versions behind 'champion' and 'previous'")
    commands.add_parser("summary", help="what was built and where to look next")

    rollback = commands.add_parser(
        "rollback", help="move 'champion' back to 'previous' (or to --to-version)"
    )
    rollback.add_argument("--to-version", help="a registry version to make champion")
    commands.add_parser(
        "recover",
        help="mark runs whose process died (kill -9) as failed, free their pool slots and end "
        "their MLflow runs",
    )

    prune = commands.add_parser(
        "prune", help="delete what the retention policy no longer keeps (see --dry-run)"
    )
    prune.add_argument("--dry-run", action="store_true", help="list what would go; delete nothing")

    commands.add_parser(
        "airbyte-state",
        help="read the Airbyte workspace from its API into the cached copy definitions load from",
    )
    return parser


def commands(parser: argparse.ArgumentParser) -> dict[str, tuple[str, argparse.ArgumentParser]]:
    """Each command of `parser`: its one-line help and its own parser."""
    (subcommands,) = (
        action for action in parser._actions if isinstance(action, argparse._SubParsersAction)
    )
    helps = {choice.dest: choice.help for choice in subcommands._choices_actions}
    return {name: (helps[name], command) for name, command in subcommands.choices.items()}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args.host, args.port)
    if args.command == "airbyte-state":
        return _refresh_airbyte_state()
    if args.command == "prune":
        return _prune(args.dry_run)
    if args.command == "summary":
        from mlplatform.cli.summary import summary

        print(summary().to_text())
        return 0
    from mlplatform.cli import champion
    from mlplatform.resources.model_registry import ModelRefusedError, RegistryUnavailableError

    if args.command == "recover":
        from dagster import DagsterInstance

        from mlplatform.cli.recovery import finished_runs, recover_dead_runs
        from mlplatform.resources.model_io import DAGSTER_RUN_TAG

        # MLflow runs of dead or finished Dagster runs would show as running forever.
        tracking = champion.registry_from_settings().tracking
        with DagsterInstance.get() as instance:
            recovered = recover_dead_runs(instance)
            orphaned = finished_runs(instance, tracking.running_tag_values(DAGSTER_RUN_TAG))
        dead = [run.run_id for run in recovered]
        killed = tracking.kill_runs_of(DAGSTER_RUN_TAG, [*dead, *orphaned])
        runs = [asdict(run) for run in recovered]
        print(json.dumps({"runs": runs, "mlflow_runs_killed": killed}))
        return 0
    try:
        if args.command == "predict":
            result = champion.predict(
                args.title, args.description, args.precision_mode, args.version
            )
        elif args.command == "champion":
            result = champion.aliases()
        else:
            replaced, restored = champion.registry_from_settings().rollback(args.to_version)
            result = {"champion": restored, "previous": replaced}
    except (LookupError, RegistryUnavailableError, ModelRefusedError) as error:
        print(f"mlplatform {args.command}: {error}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


def _prune(dry_run: bool) -> int:
    """The `prune_job`'s plan from a shell: one JSON line per deleted (or deletable) item."""
    from dagster import DagsterInstance

    from mlplatform.lib.dbt_project import DBT_TARGET_DIR
    from mlplatform.resources import build_model_registry
    from mlplatform.resources.retention import prune, retention_stores
    from mlplatform.settings import Settings, reveal

    settings = Settings.from_env()
    registry = build_model_registry(settings, reveal_secrets=True)
    storage = reveal(settings.tuning.storage)
    with DagsterInstance.get() as instance:
        stores = retention_stores(registry, storage, settings.reports_dir, DBT_TARGET_DIR, instance)
        plan = prune(stores, settings.retention, dry_run=dry_run, log=_to_stderr)
    for item in plan.delete:
        print(json.dumps({"kind": item.kind, "key": item.key, "bytes": item.size_bytes}))
    verb = "would free" if dry_run else "freed"
    print(f"{len(plan.delete)} items, {verb} {plan.freed_bytes / 1e6:.1f} MB", file=sys.stderr)
    return 0


def _serve(host: str | None, port: int | None) -> int:
    """The prediction service until it is stopped (`mlplatform.serving`)."""
    import uvicorn

    from mlplatform.cli.champion import registry_from_settings
    from mlplatform.serving.app import create_app
    from mlplatform.serving.champion import ChampionFollower
    from mlplatform.settings import Settings

    settings = Settings.from_env()
    serving = settings.serving
    follower = ChampionFollower(registry_from_settings(settings), serving.refresh_seconds)
    app = create_app(follower, serving.max_request_bytes)
    uvicorn.run(app, host=host or serving.host, port=port or serving.port, log_level="info")
    return 0


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr)


def _refresh_airbyte_state() -> int:
    from mlplatform.resources.airbyte import refresh_workspace_state
    from mlplatform.settings import Settings

    settings = Settings.from_env().airbyte
    try:
        data = refresh_workspace_state(settings)
    except Exception as error:
        print(f"mlplatform airbyte-state: {error}", file=sys.stderr)
        return 1
    connections = sorted(c.name for c in data.connections_by_id.values())
    print(json.dumps({"state": str(settings.state_path), "connections": connections}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
