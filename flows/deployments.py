"""The scheduled deployments declared in prefect.yaml, for `verticals serve` and workers."""

from pathlib import Path

import yaml
from prefect.schedules import Cron

from flows.pipeline import all_domains, domain_pipeline
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
