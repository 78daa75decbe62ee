"""Operations against real services: a DVC remote (a folder, and S3 served by moto on
loopback), Prefect process workers in separate clones, a Dask LocalCluster, and the UI."""

import json
import uuid
from unittest.mock import ANY

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

from flows.pipeline import domain_pipeline, sync
from tasks.common.errors import InputError, StageFailed
from tasks.common.paths import domain_paths, registry_store
from tests.conftest import REPO, TINY, add_remote, make_workspace, sh
from tests.servers import free_port
from tests.workers import deploy_domain, worker
from tests.workspace import commit_all, git

pytestmark = pytest.mark.slow

BUCKET = "verticals"


def tree(folder) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def s3(tmp_path):
    """moto's S3 server on loopback with IAM auth on: one user whose keys work, no others."""
    import boto3
    import requests
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="setup", aws_secret_access_key="setup")  # fmt: skip
    iam.create_user(UserName="ci")
    iam.put_user_policy(
        UserName="ci",
        PolicyName="s3",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17",
             "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        ),
    )  # fmt: skip
    key = iam.create_access_key(UserName="ci")["AccessKey"]
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                 aws_access_key_id="setup", aws_secret_access_key="setup",
                 ).create_bucket(Bucket=BUCKET)  # fmt: skip
    requests.post(f"{endpoint}/moto-api/reset-auth", data=b"0", timeout=10)  # auth from now on
    yield endpoint, key["AccessKeyId"], key["SecretAccessKey"]
    requests.post(f"{endpoint}/moto-api/reset-auth", data=b"inf", timeout=10)
    server.stop()


def test_push_and_pull_round_trip_through_s3(tmp_path, s3, prefect_server):
    endpoint, key_id, secret = s3
    ws = make_workspace(tmp_path / "ws", TINY)
    add_remote(ws, f"s3://{BUCKET}/dvc", endpointurl=endpoint,
               access_key_id=key_id, secret_access_key=secret)  # fmt: skip
    sh("dvc", "repro", "preprocess@recsys", cwd=ws)
    paths = domain_paths("recsys", ws)
    raw, processed = tree(paths.raw), tree(paths.processed)
    assert "pushed" in sync("recsys", "push", str(ws))

    sh("rm", "-rf", ".dvc/cache", "data/recsys", cwd=ws)  # a fresh machine's clone
    assert "added" in sync("recsys", "pull", str(ws))
    assert tree(paths.raw) == raw and tree(paths.processed) == processed
    assert "up to date" in sh("dvc", "status", "preprocess@recsys", cwd=ws).stdout

    # wrong credentials: one line naming the push, and nothing local is lost
    sh("dvc", "remote", "modify", "--local", "storage", "secret_access_key", "wrong", cwd=ws)
    (paths.processed / "extra.txt").write_text("new")  # something to push
    lock = (ws / "dvc.lock").read_bytes()
    with pytest.raises(StageFailed, match=r"^push@recsys failed: .*refused the credentials"):
        sync("recsys", "push", str(ws))
    assert (ws / "dvc.lock").read_bytes() == lock


def test_pull_from_a_missing_remote_is_one_clear_error(tmp_path, prefect_server):
    ws = make_workspace(tmp_path / "ws", TINY)
    with pytest.raises(InputError, match="no default DVC remote"):
        domain_pipeline("recsys", str(ws), pull=True)
    sh("dvc", "remote", "add", "--local", "--default", "storage", str(tmp_path / "nowhere"), cwd=ws)
    proc = sh("verticals", "run", "recsys", "--pull", cwd=ws, check=False,
              env={"PREFECT_API_URL": prefect_server.api})  # fmt: skip
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last == f"error: DVC remote 'storage' does not exist: no folder {tmp_path / 'nowhere'}"
    assert not domain_paths("recsys", ws).raw.exists()


def test_an_unreachable_prefect_api_is_one_clear_error(tmp_path):
    ws = make_workspace(tmp_path / "ws", TINY)
    lock = (ws / "dvc.lock").read_bytes()
    url = f"http://127.0.0.1:{free_port()}/api"
    proc = sh("verticals", "run", "recsys", cwd=ws, check=False, env={"PREFECT_API_URL": url})
    assert proc.returncode == 2
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .startswith(f"error: PREFECT_API_URL={url} is unreachable")
    )
    assert "Traceback" not in proc.stderr
    assert (ws / "dvc.lock").read_bytes() == lock and not (ws / "data" / "recsys").exists()


def flow_run_logs(flow_run_id) -> str:
    with get_client(sync_client=True) as client:
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
        )
    return "\n".join(log.message for log in logs)


def test_two_workers_in_their_own_clones_share_the_remote_and_the_registry(
    tmp_path, prefect_server, mlflow_server, monkeypatch
):
    """Worker A trains, registers on the team's MLflow server and pushes; worker B, in another
    clone, pulls A's model, trains nothing, finds A's version, and predicts with it."""
    from prefect.deployments import run_deployment

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)  # the workers inherit it
    a = make_workspace(tmp_path / "a", TINY)
    b = tmp_path / "b"
    git("clone", "-q", str(a), str(b), cwd=tmp_path)
    git("config", "user.email", "b@localhost", cwd=b)
    git("config", "user.name", "b", cwd=b)
    runs = {}
    for clone in (a, b):
        add_remote(clone, str(tmp_path / "remote"))
        pool = f"verticals-{clone.name}-{uuid.uuid4().hex[:6]}"
        name = deploy_domain(clone, pool, pool, domain="recsys", pull=True, push=True)
        with worker(clone, pool):
            runs[clone.name] = run_deployment(name, timeout=600)
        assert runs[clone.name].state.is_completed(), runs[clone.name].state
        if clone == a:  # A shares its lock through git, its data through the remote
            commit_all(a, "A trained recsys")
            git("pull", "-q", "--no-rebase", "origin", "HEAD", cwd=b)

    trained, pulled = (flow_run_logs(runs[name].id) for name in ("a", "b"))
    assert "Running stage 'train@recsys'" in trained
    assert "Running stage 'train@recsys'" not in pulled
    assert "Stage 'train@recsys' didn't change, skipping" in pulled
    assert "Running stage 'register@recsys'" in pulled  # B asks the registry, which knows A's
    model_a, model_b = (domain_paths("recsys", clone).model for clone in (a, b))
    assert tree(model_a) == tree(model_b)
    assert "up to date" in sh("dvc", "status", "train@recsys", cwd=b).stdout
    decision_a, decision_b = (json.loads(domain_paths("recsys", c).registration.read_text())
                              for c in (a, b))  # fmt: skip
    assert decision_b == decision_a and decision_b["aliases"] == ["production"]
    assert not registry_store(a).exists() and not registry_store(b).exists()  # none embedded

    sh("verticals", "predict", "recsys", "--users", "3", "--output", "recs.parquet", cwd=b)
    cached = list(domain_paths("recsys", b).registered.iterdir())
    assert [c.name.split("-")[0] for c in cached] == [f"v{decision_a['version']}"]
    assert tree(cached[0] / "model") == {**tree(model_a), "version.json": ANY}


def test_the_prefect_server_listens_on_loopback_only(prefect_server):
    import psutil

    port = int(prefect_server.url.rsplit(":", 1)[1])
    listening = [
        c.laddr.ip
        for c in psutil.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN and c.laddr.port == port
    ]
    assert listening and set(listening) == {"127.0.0.1"}
    assert "server start --host 127.0.0.1" in (REPO / "Makefile").read_text()  # `make ui`


def test_the_mlflow_ui_shows_the_version_with_its_production_alias(mlflow_server, tmp_path):
    """Debian's Chromium on the real MLflow server's model page, after a registration."""
    from playwright.sync_api import expect, sync_playwright

    from tasks.common.registry import Registry
    from tests.common.test_registry import register
    from tests.test_pipeline import CHROMIUM, CHROMIUM_ARGS

    registry = Registry(f"ui{uuid.uuid4().hex[:6]}", mlflow_server, tmp_path / "cache", None)
    version = register(registry, tmp_path, "a", 0.5)["version"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{mlflow_server}/#/models/{registry.name}")
        row = page.get_by_role("row").filter(has_text=f"Version {version}")
        expect(row).to_be_visible(timeout=60_000)
        expect(row).to_contain_text("production")
        page.screenshot(path=tmp_path / "mlflow-model.png", full_page=True)
        browser.close()
