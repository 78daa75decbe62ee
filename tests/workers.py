"""Prefect process workers in clones chosen at run time, for tests and benchmarks: what
`prefect deploy` and `verticals worker` do, for a pool and clone named here."""

import signal
import subprocess
from contextlib import contextmanager, suppress
from pathlib import Path

from flows.deployments import DOMAIN_ENTRYPOINT
from flows.pipeline import domain_pipeline
from flows.repro import stage_env


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
