"""Prefect flows: one task per DVC stage, so DVC decides what runs and Prefect shows it.

Each task asks DVC whether its stage is up to date; if not, it reproduces it, as
`dvc repro --single-item <step>@<domain>` would, in this process, with the stage's output
in the task's log. Either way DVC decides, and both drivers leave the same `dvc.lock`.
"""

import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.futures import wait
from prefect.tasks import exponential_backoff

from flows.remote import check_remote, explain, sync_args
from flows.report import decision_markdown
from flows.repro import SKIPPED, reproduce, run_dvc, up_to_date
from tasks.common.errors import StageFailed
from tasks.common.io import read_json
from tasks.common.params import load_params
from tasks.common.paths import DOMAINS, STEPS, check_domain, domain_paths
from tasks.common.registry import open_registry, ui_page

GPU_TAG = "gpu"  # training tasks carry it, so a Prefect tag concurrency limit can cap them
URL_RETRIES, BACKOFF_SECONDS = 3, 2  # ingest from a URL: waits 2, 4, then 8 s between tries
BUSY_WAIT_SECONDS, BUSY_POLL_SECONDS = 3600, 2


@contextmanager
def one_repro_at_a_time(root: str):
    """Stages of concurrent runs on one workspace take turns. DVC rewrites dvc.lock in place,
    and a stage that reads it (register) could otherwise see another domain's half-written
    file. An exclusive flock: across threads and processes alike."""
    path = Path(root) / ".dvc" / "tmp" / "verticals-repro.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


@task(task_run_name="{step}@{domain}")
def stage(domain: str, step: str, root: str) -> tuple[str, float]:
    """Bring one stage up to date through DVC: (RAN, RESTORED or SKIPPED, its own seconds,
    leaving out its turns behind other stages and waits for data another run was using)."""
    start = time.perf_counter()
    logger = get_run_logger()
    target = f"{step}@{domain}"
    if up_to_date(root, target):
        logger.info(f"Stage '{target}' didn't change, skipping (dvc status)")
        return SKIPPED, time.perf_counter() - start
    deadline = time.monotonic() + BUSY_WAIT_SECONDS
    asked = time.perf_counter()
    with one_repro_at_a_time(root):
        waited = time.perf_counter() - asked
        while (result := reproduce(root, target, logger.info)).busy and time.monotonic() < deadline:
            # DVC fails at once on data another run is using: wait, then let it decide again
            logger.info(f"{target}: its data is in use by another run here; waiting")
            time.sleep(BUSY_POLL_SECONDS)
            waited += BUSY_POLL_SECONDS
    if result.code:
        raise StageFailed(f"{target} failed: {result.why or f'exit code {result.code}'}")
    return result.outcome, time.perf_counter() - start - waited


@task(task_run_name="{action}@{domain}")
def sync(domain: str, action: str, root: str) -> str:
    """`dvc pull` (before the stages) or `dvc push` (after them) with the default remote."""
    logger = get_run_logger()
    logger.info(f"{action}: {check_remote(Path(root), action)}")
    result = run_dvc(sync_args(action, domain), root, logger.info)
    if result.code:
        why = explain(result.why or f"exit code {result.code}")
        raise StageFailed(f"{action}@{domain} failed: {why}")
    return result.last


def summarize(
    domain: str, root: Path, outcomes: dict[str, str], seconds: dict, waited: dict
) -> dict:
    paths = domain_paths(domain, root)
    decision = read_json(paths.registration)
    metrics = read_json(paths.metrics)
    return {
        "domain": domain,
        "stages": outcomes,
        "seconds": seconds,  # each stage's own time, its waits left out
        "waited": waited,
        "metrics": {name: metrics[name] for name in decision["key_metrics"]},
        "version": decision["version"],
        "aliases": decision["aliases"],
        "gate_passed": decision["gate"]["passed"],
    }


def publish(domain: str, root: Path, registered: bool) -> None:
    """Artifacts for the Prefect UI, under stable keys so each run adds to their history: the
    metrics every run, the registry's decision when register ran (reading the card from MLflow
    costs a no-op run ~2 s, and nothing was decided)."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    paths = domain_paths(domain, root)
    metrics = read_json(paths.metrics)
    create_table_artifact(
        key=f"{domain}-metrics",
        table=[{"metric": name, "value": value} for name, value in metrics.items()],
        description=f"{domain}: reports/{domain}/metrics.json",
    )
    if not registered:
        return
    plots = sorted(p.relative_to(root).as_posix() for p in paths.plots.glob("*"))
    decision = read_json(paths.registration)
    card = open_registry(paths).resolve(str(decision["version"])).description
    page = ui_page(domain, decision["version"])
    create_markdown_artifact(
        key=f"{domain}-registry",
        markdown=decision_markdown(domain, decision, plots, page) + "\n" + card,
        description=f"{domain}: the registry's decision and the version's model card",
    )


def stage_options(domain: str, step: str, root: str) -> dict:
    """Tags for the UI and for concurrency limits; retries where a network is involved."""
    options: dict = {"tags": [domain, *([GPU_TAG] if step == "train" else [])]}
    source = str(load_params(Path(root))[domain]["ingest"].get("source", ""))
    if step == "ingest" and "://" in source:
        delays = exponential_backoff(backoff_factor=BACKOFF_SECONDS)
        options |= {"retries": URL_RETRIES, "retry_delay_seconds": delays}
    return options


@flow(flow_run_name="{domain}")
def domain_pipeline(domain: str, root: str = ".", pull: bool = False, push: bool = False) -> dict:
    """[pull ->] ingest -> preprocess -> train -> evaluate -> register [-> push] for one domain."""
    check_domain(domain)  # a deployment naming an unknown domain fails here, in one line
    if pull:
        sync(domain, "pull", root)
    outcomes, seconds, waited = {}, {}, {}
    for step in STEPS:
        start = time.perf_counter()
        run_stage = stage.with_options(**stage_options(domain, step, root))
        outcomes[step], own = run_stage(domain, step, root)
        seconds[step] = round(own, 2)
        # the rest: queued for a GPU slot or a thread, turns behind other domains' stages
        waited[step] = round(time.perf_counter() - start - own, 2)
    if push:
        sync(domain, "push", root)
    publish(domain, Path(root), registered=outcomes["register"] != SKIPPED)
    return summarize(domain, Path(root), outcomes, seconds, waited)


@task(task_run_name="{domain}")
def run_domain(domain: str, root: str, pull: bool, push: bool) -> dict:
    return domain_pipeline(domain, root, pull, push)


@flow(name="verticals", flow_run_name="all")
def all_domains(
    domains: list[str] | None = None, root: str = ".", pull: bool = False, push: bool = False
) -> list[dict]:
    """Every domain at once: they share no outputs, and their stages take turns on DVC.

    Each domain is a subflow inside a task, so the flow's task runner decides where the
    domains run: threads here by default, or a Dask cluster (`dask_runner`).
    """
    root = str(Path(root).resolve())
    futures = [run_domain.submit(d, root, pull, push) for d in domains or DOMAINS]
    wait(futures)  # every domain finishes before the first failure is raised
    return [f.result() for f in futures]


def dask_runner(address: str):
    """A Dask task runner: `local` starts a LocalCluster, else a scheduler's address."""
    from prefect_dask import DaskTaskRunner

    if address != "local":
        return DaskTaskRunner(address=address)
    # one single-threaded worker process per core (the stages use the threads), on loopback
    cluster = {"n_workers": os.cpu_count(), "threads_per_worker": 1, "host": "127.0.0.1"}
    return DaskTaskRunner(cluster_kwargs={**cluster, "dashboard_address": "127.0.0.1:0"})
