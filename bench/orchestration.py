"""The pipeline through a real Prefect server and a process worker, as scheduled runs go:
part of `make bench`, or alone with `python -m bench.orchestration [DOMAIN ...]`.

Each domain runs cold through the worker (every stage's task-run time), then again with
nothing changed (the no-op run's time from the worker picking it up to its end); then each
stage runs alone in the same clone, on the same data, so the difference is the overhead.
"""

import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.machine import cpu_model
from flows.report import table
from flows.repro import stage_env
from tasks.common.paths import DOMAINS, STEPS
from tests.servers import local_server
from tests.workers import deploy_domain, worker
from tests.workspace import clone_workspace

REPO = Path(__file__).resolve().parents[1]
POOL = "bench"


def timed(*cmd: str, cwd: Path) -> float:
    from prefect.settings import PREFECT_API_URL

    env = {**stage_env(), "PREFECT_API_URL": PREFECT_API_URL.value() or ""}
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def task_seconds(client, flow_run_id) -> dict[str, float]:
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    runs = client.read_task_runs(
        flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
    )
    return {r.name.split("@")[0]: (r.end_time - r.start_time).total_seconds() for r in runs}


def picked_up_to_end(client, flow_run) -> float:
    """From the worker's Pending (it took the run) to the run's end."""
    states = client.read_flow_run_states(flow_run.id)
    picked = min(s.timestamp for s in states if s.is_pending())
    return (flow_run.end_time - picked).total_seconds()


def through_worker(ws: Path, domains) -> dict[str, dict]:
    """Needs a server: run inside tests.servers.local_server."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    (ws / "dvc.lock").unlink()  # nothing recorded: every stage runs, none is found up to date
    pool = f"{POOL}-{uuid.uuid4().hex[:6]}"
    names = {d: deploy_domain(ws, pool, f"{pool}-{d}", domain=d) for d in domains}
    results = {}
    with worker(ws, pool), get_client(sync_client=True) as client:
        for domain, name in names.items():
            cold, noop = (run_deployment(name, timeout=1800) for _ in range(2))
            assert cold.state.is_completed() and noop.state.is_completed(), domain
            results[domain] = {
                "stages": task_seconds(client, cold.id),
                "noop": picked_up_to_end(client, client.read_flow_run(noop.id)),
            }
    for domain, r in results.items():  # register alone finds its version: it registers nothing
        r["alone"] = {s: timed("verticals", "stage", domain, s, cwd=ws) for s in STEPS}
    return results


def median_overhead(r: dict) -> float:
    """The median, as a long stage's run-to-run noise (train: seconds) swamps a mean."""
    return statistics.median(r["stages"][s] - r["alone"][s] for s in STEPS)


def report(results: dict[str, dict]) -> str:
    title = "through a process worker: each stage alone / as the worker's task run (s)"
    return f"{title}\n\n" + table(
        ["domain", *STEPS, "median overhead", "no-op run after pickup"],
        [
            [d, *(f"{r['alone'][s]:.1f} / {r['stages'][s]:.1f}" for s in STEPS),
             f"{median_overhead(r):+.1f} s", f"{r['noop']:.1f} s"]
            for d, r in results.items()
        ],
    )  # fmt: skip


def main() -> None:
    domains = sys.argv[1:] or DOMAINS
    with tempfile.TemporaryDirectory() as tmp, local_server(Path(tmp) / "prefect"):
        results = through_worker(clone_workspace(REPO, Path(tmp) / "worker"), domains)
    print(cpu_model(), "\n", sep="")
    print(report(results))


if __name__ == "__main__":
    main()
