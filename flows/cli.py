"""The `verticals` command line: run flows, run one stage, list models, predict."""

import argparse
import importlib
import sys
from pathlib import Path

from tasks.common.errors import InputError, StageFailed
from tasks.common.paths import DOMAINS, STEPS, TASKS, domain_paths, stage_module, workspace_root


def cmd_stage(args: argparse.Namespace) -> None:
    importlib.import_module(stage_module(args.domain, args.step)).run(domain_paths(args.domain))


def check_prefect_api() -> None:
    """Fail in one line, before anything runs, when PREFECT_API_URL names no live server."""
    import httpx
    from prefect.settings import PREFECT_API_URL

    if not (url := PREFECT_API_URL.value()):
        return  # Prefect starts a temporary server
    try:
        httpx.get(f"{url.rstrip('/')}/health", timeout=10).raise_for_status()
    except httpx.HTTPError as e:
        raise InputError(
            f"PREFECT_API_URL={url} is unreachable ({e}): start a server (`make ui`) or unset it"
        ) from None


def cmd_run(args: argparse.Namespace) -> None:
    from flows.overrides import apply_overrides
    from flows.pipeline import all_domains, dask_runner, domain_pipeline
    from flows.report import summary_table
    from tasks.common.registry import check_reachable, tracking_uri

    check_prefect_api()
    root = workspace_root()
    check_reachable(tracking_uri(root))
    apply_overrides(root, args.set)
    domains = args.domains or DOMAINS
    sync = {"pull": args.pull, "push": args.push}
    # One domain is one flow run; several are concurrent subflows of one parent run.
    if len(domains) == 1:
        rows = [domain_pipeline(domains[0], str(root), **sync)]
    else:
        flow = all_domains
        if args.dask:
            flow = all_domains.with_options(task_runner=dask_runner(args.dask))
        rows = flow(list(domains), str(root), **sync)
    print(summary_table(rows))


def cmd_models(args: argparse.Namespace) -> None:
    from flows.report import models_table
    from tasks.common.registry import open_registry

    print(models_table([open_registry(domain_paths(d)) for d in args.domains or DOMAINS]))


def cmd_promote(args: argparse.Namespace) -> None:
    from tasks.common.registry import open_registry

    registry = open_registry(domain_paths(args.domain))
    now = registry.promote(args.version, args.reason, args.force)
    print(f"{registry.name}: production is version {now['version']}")


def cmd_rollback(args: argparse.Namespace) -> None:
    from tasks.common.registry import open_registry

    registry = open_registry(domain_paths(args.domain))
    now = registry.rollback(args.reason)
    print(f"{registry.name}: production rolled back to version {now['version']}")


def cmd_layout(args: argparse.Namespace) -> None:
    from flows.layout import write_layout

    print(write_layout(workspace_root(), args.check))


def predictable() -> list[str]:
    """Domains with a `predict` module, found without importing any (they import frameworks)."""
    return [d for d in DOMAINS if (TASKS / d / "predict.py").is_file()]


def predict_parser(domain: str) -> tuple[argparse.ArgumentParser, object]:
    module = importlib.import_module(f"tasks.{domain}.predict")
    parser = argparse.ArgumentParser(prog=f"verticals predict {domain}", description=module.__doc__)
    parser.add_argument(
        "--model",
        default="production",
        help="a registered version number (3) or an alias (default: production)",
    )
    parser.add_argument("--output", required=True, type=Path, help="Parquet file to write")
    module.add_arguments(parser)
    return parser, module


def cmd_predict(args: argparse.Namespace) -> None:
    parser, module = predict_parser(args.domain)
    print(module.main(domain_paths(args.domain), parser.parse_args(args.rest)))


def servable() -> list[str]:
    """Domains with an endpoint (tasks/<domain>/serve.py), found without importing any."""
    return [d for d in DOMAINS if (TASKS / d / "serve.py").is_file()]


def cmd_api(args: argparse.Namespace) -> None:
    from flows.api import serve

    serve(workspace_root(), args.domains or servable(), args.host, args.port)


def cmd_serve(args: argparse.Namespace) -> None:
    from flows.deployments import serve_all

    serve_all(workspace_root())


def cmd_worker(args: argparse.Namespace) -> None:
    import os

    from flows.deployments import work_pool

    pool = args.pool or work_pool(workspace_root())
    cmd = [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--type", "process"]
    os.execv(sys.executable, cmd)  # the worker takes this process: signals reach it directly


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="verticals", description="Reproducible ML pipelines, run by DVC and Prefect."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the Prefect pipeline for some or all domains")
    run.add_argument(
        "domains",
        nargs="*",
        choices=[[], *DOMAINS],
        metavar="DOMAIN",
        help=f"domains to run (default: all of {', '.join(DOMAINS)})",
    )
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change params.yaml before running, e.g. recsys.train.max_epochs=3",
    )
    run.add_argument("--pull", action="store_true", help="dvc pull from the default remote first")
    run.add_argument("--push", action="store_true", help="dvc push to the default remote after")
    run.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="run the domains on a Dask cluster: a scheduler's address, or 'local'",
    )
    run.set_defaults(func=cmd_run)

    stage = sub.add_parser("stage", help="run one stage without Prefect (what dvc.yaml calls)")
    stage.add_argument("domain", choices=DOMAINS)
    stage.add_argument("step", choices=STEPS)
    stage.set_defaults(func=cmd_stage)

    models = sub.add_parser("models", help="list registered model versions (MLflow)")
    models.add_argument("domains", nargs="*", choices=[[], *DOMAINS], metavar="DOMAIN")
    models.set_defaults(func=cmd_models)

    promote = sub.add_parser("promote", help="move a domain's production alias to a version")
    promote.add_argument("domain", choices=DOMAINS)
    promote.add_argument("version", help="a registered version number")
    promote.add_argument("--reason", default="", help="recorded on the version, with who and when")
    promote.add_argument(
        "--force", action="store_true", help="promote a version that failed its gate"
    )
    promote.set_defaults(func=cmd_promote)

    rollback = sub.add_parser("rollback", help="production back to the version it had before")
    rollback.add_argument("domain", choices=DOMAINS)
    rollback.add_argument("--reason", default="", help="recorded on the version, with who and when")
    rollback.set_defaults(func=cmd_rollback)

    serve = sub.add_parser(
        "serve", help="serve prefect.yaml's scheduled deployments from this process"
    )
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser(
        "worker", help="start a process worker for the pool prefect.yaml's deployments use"
    )
    worker.add_argument("--pool", help="the work pool to poll (default: prefect.yaml's)")
    worker.set_defaults(func=cmd_worker)

    layout = sub.add_parser(
        "layout", help="write dvc.yaml and prefect.yaml for the domains found in tasks/"
    )
    layout.add_argument("--check", action="store_true", help="only fail if they are out of date")
    layout.set_defaults(func=cmd_layout)

    api = sub.add_parser(
        "api", help="serve production models over HTTP, batched, following the registry"
    )
    api.add_argument(
        "domains",
        nargs="*",
        choices=[[], *servable()],
        metavar="DOMAIN",
        help=f"domains to serve (default: all of {', '.join(servable())})",
    )
    api.add_argument(
        "--host",
        default="127.0.0.1",
        choices=["127.0.0.1", "0.0.0.0", "::"],
        help="127.0.0.1 (default) answers this machine only; 0.0.0.0 or :: every network",
    )
    api.add_argument("--port", type=int, default=8000, help="(default: 8000)")
    api.set_defaults(func=cmd_api)

    predict = sub.add_parser(
        "predict",
        help="predict with a registered model",
        description="verticals predict DOMAIN --help: that domain's inputs and options",
    )
    predict.add_argument("domain", choices=predictable(), metavar="DOMAIN")
    predict.add_argument("rest", nargs=argparse.REMAINDER, help="the domain's own arguments")
    predict.set_defaults(func=cmd_predict)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except StageFailed as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
