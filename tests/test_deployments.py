"""prefect.yaml's scheduled deployments, served by `verticals serve` against a real server."""

import subprocess
import time

import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment

from flows.deployments import load_deployments
from flows.repro import stage_env
from tasks.common.errors import InputError
from tasks.common.paths import DOMAINS
from tests.conftest import REPO, add_remote, sh


def test_prefect_yaml_has_a_scheduled_deployment_per_domain_and_one_for_all():
    deployments = {d["name"]: d for d in load_deployments(REPO)}
    assert set(deployments) == {*DOMAINS, "all"}
    for domain in DOMAINS:
        assert deployments[domain]["parameters"] == {"domain": domain, "pull": True, "push": True}
    assert all(d["schedules"][0]["cron"] for d in deployments.values())


def test_a_deployment_naming_an_unknown_domain_is_refused(tmp_path):
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    spec["deployments"][0]["parameters"]["domain"] = "finance"
    (tmp_path / "prefect.yaml").write_text(yaml.safe_dump(spec))
    first = spec["deployments"][0]["name"]
    with pytest.raises(InputError, match=f"deployment '{first}': unknown domain 'finance'"):
        load_deployments(tmp_path)


@pytest.mark.slow
def test_verticals_serve_registers_the_schedules_and_runs_a_deployment(
    tmp_path, prefect_server, reproduced
):
    ws = reproduced  # served from the shared clone: the run finds its stages up to date
    add_remote(ws, str(tmp_path / "remote"))
    env = {"PREFECT_API_URL": prefect_server.api}
    server = subprocess.Popen(
        ["verticals", "serve"], cwd=ws, env={**stage_env(), **env}, stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        with get_client(sync_client=True) as client:
            deadline = time.monotonic() + 120
            while len(names := {d.name for d in client.read_deployments()}) < len(DOMAINS) + 1:
                assert time.monotonic() < deadline and server.poll() is None
                time.sleep(1)
            assert names >= {*DOMAINS, "all"}
            recsys = client.read_deployment_by_name("domain-pipeline/recsys")
            spec = yaml.safe_load((ws / "prefect.yaml").read_text())["deployments"]
            [cron] = [d["schedules"][0]["cron"] for d in spec if d["name"] == "recsys"]
            assert [s.schedule.cron for s in recsys.schedules] == [cron]
            assert all(s.active for s in recsys.schedules)
        run = run_deployment("domain-pipeline/recsys", timeout=300)
        assert run.state.is_completed(), run.state
        assert "up to date" in sh("dvc", "status", "register@recsys", cwd=ws).stdout
        assert "in sync" in sh("dvc", "status", "--cloud", "train@recsys", cwd=ws).stdout
    finally:
        server.terminate()
        server.wait(timeout=60)
        sh("dvc", "remote", "remove", "--local", "storage", cwd=ws)
