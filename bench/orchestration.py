"""The pipeline through a real Prefect server and a process worker, as scheduled runs go.

Each domain runs cold through the worker (every stage's task-run time), then again with
nothing changed: the no-op run's time from the worker picking it up to its end.
"""

import uuid
from pathlib import Path

from tests.workers import deploy_domain, worker

POOL = "bench"


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
    return results
