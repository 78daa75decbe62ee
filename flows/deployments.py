"""The scheduled deployments declared in prefect.yaml, for `verticals serve`, and the
same flow deployed to a chosen pool and clone, for workers started at run time."""

import signal
import subprocess
from contextlib import contextmanager, suppress
from pathlib import Path

import yaml
from prefect.schedules import Cron

from flows.pipeline import all_domains, domain_pipeline, stage_env
from tasks.common.errors import InputError
from tasks.common.paths import DOMAINS

DEPLOYMENTS_FILE = "prefect.yaml"
DOMAIN_ENTRYPOINT = "flows/pipeline.py:domain_pipeline"
FLOWS = {
    DOMAIN_ENTRYPOINT: domain_pipeline,
    "flows/pipeline.py:all_domains": all_domains,
}


def load_deployments(root: Path) -> list[dict]:
    """prefect.yaml's deployments, checked: known flows and known domains only."""
    deployments = yaml.safe_load((root / DEPLOYMENTS_FILE).read_text())["deployments"]
    for spec in deployments:
        where = f"{DEPLOYMENTS_FILE}: deployment {spec['name']!r}"
        if spec["entrypoint"] not in FLOWS:
            raise InputError(f"{where}: unknown entrypoint {spec['entrypoint']!r}")
        domain = spec.get("parameters", {}).get("domain")
        if domain is not None and domain not in DOMAINS:
            raise InputError(
                f"{where}: unknown domain {domain!r}; choose from {', '.join(DOMAINS)}"
            )
    return deployments


def runner_deployments(root: Path) -> list:
    return [
        FLOWS[spec["entrypoint"]].to_deployment(
            name=spec["name"],
            parameters={**spec.get("parameters", {}), "root": str(root)},
            schedules=[
                Cron(s["cron"], timezone=s.get("timezone", "UTC"))
                for s in spec.get("schedules", [])
            ],
        )
        for spec in load_deployments(root)
    ]


def work_pool(root: Path) -> str:
    """The pool prefect.yaml's deployments name, for `verticals worker`."""
    [pool] = {spec["work_pool"]["name"] for spec in load_deployments(root)}
    return pool


def serve_all(root: Path) -> None:
    """Serve every deployment from this process until interrupted; runs start as subprocesses."""
    from prefect import serve

    serve(*runner_deployments(root))


def deploy_domain(clone: Path, pool: str, name: str, **parameters) -> str:
    """A deployment of one domain's flow that runs in `clone` on `pool`'s workers.

    What `prefect deploy` does from prefect.yaml, for a pool and clone chosen at run time
    (tests and benchmarks). Returns the name `run_deployment` takes.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists

    # several deployments share a pool
    with get_client(sync_client=True) as client, suppress(ObjectAlreadyExists):
        client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
    domain_pipeline.from_source(str(clone), DOMAIN_ENTRYPOINT).deploy(
        name=name,
        work_pool_name=pool,
        parameters={"root": str(clone), **parameters},
        print_next_steps=False,
    )
    return f"domain-pipeline/{name}"


@contextmanager
def worker(clone: Path, pool: str):
    """`verticals worker --pool POOL` in `clone`, on this process's Prefect API, while in use."""
    from prefect.settings import PREFECT_API_URL

    env = {**stage_env(), "PREFECT_API_URL": PREFECT_API_URL.value()}
    cmd = ["verticals", "worker", "--pool", pool]
    proc = subprocess.Popen(
        cmd, cwd=clone, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C: the worker's own clean shutdown
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # it can hang on SIGTERM after several runs
            proc.kill()
            proc.wait()
