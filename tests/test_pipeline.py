"""End to end in temporary clones: real DVC, a real Prefect server, the real CLI."""

import hashlib
import json
import re
import shutil
import subprocess
from contextlib import contextmanager
from itertools import pairwise

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    LogFilter,
    LogFilterFlowRunId,
    TaskRunFilter,
    TaskRunFilterName,
)

from flows.pipeline import GPU_TAG, all_domains
from flows.repro import RAN, SKIPPED
from tasks.common.paths import DOMAINS, STEPS, domain_paths
from tasks.common.registry import open_registry
from tests.conftest import TINY, make_workspace, sh

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"  # Debian's package, installed by .ci/run
# headless as root, and no calls home: this machine's network is closed
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]  # fmt: skip


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_digest(folder) -> dict[str, str]:
    return {str(p.relative_to(folder)): digest(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def test_second_repro_runs_nothing_and_status_is_clean(reproduced):
    lock = digest(reproduced / "dvc.lock")
    again = sh("dvc", "repro", cwd=reproduced).stdout
    assert "Running stage" not in again
    assert again.count("didn't change, skipping") == len(STEPS) * len(DOMAINS)
    assert "up to date" in sh("dvc", "status", cwd=reproduced).stdout
    assert digest(reproduced / "dvc.lock") == lock


def test_metrics_and_plots_show(reproduced, tmp_path):
    metrics = json.loads(sh("dvc", "metrics", "show", "--json", cwd=reproduced).stdout)
    values = next(iter(metrics.values()))["data"]["reports/recsys/metrics.json"]["data"]
    for key in (
        "hr_at_10",
        "ndcg_at_10",
        "full_hr_at_10",
        "baseline_hr_at_10",
        "baseline_ndcg_at_10",
    ):
        assert 0 <= values[key] <= 1
    assert values["hr_at_10"] > values["baseline_hr_at_10"]
    medical = next(iter(metrics.values()))["data"]["reports/medical/metrics.json"]["data"]
    for key in ("auc", "pr_auc", "accuracy", "sensitivity", "specificity", "threshold", "brier"):
        assert 0 <= medical[key] <= 1
    text = next(iter(metrics.values()))["data"]["reports/text/metrics.json"]["data"]
    for key in ("accuracy", "f1_macro", "baseline_accuracy", "precision_billing", "recall_account"):
        assert 0 <= text[key] <= 1
    assert text["accuracy"] > 2 * text["baseline_accuracy"]
    vision = next(iter(metrics.values()))["data"]["reports/vision/metrics.json"]["data"]
    for key in ("accuracy", "top5_accuracy", "baseline_accuracy", "f1_macro", "recall_9"):
        assert 0 <= vision[key] <= 1
    assert vision["top5_accuracy"] >= vision["accuracy"] > 3 * vision["baseline_accuracy"]
    for domain in (values, medical, text, vision):  # each says how its training ended
        assert 1 <= domain["best_epoch"] <= domain["epochs_run"]
        assert domain["stopped"].startswith(("no val_", "reached max_epochs"))
    sh("dvc", "plots", "show", "-o", str(tmp_path / "plots"), cwd=reproduced)
    html = (tmp_path / "plots" / "index.html").read_text()
    for plot in (
        "hr_at_k.csv",
        "train_loss",
        "roc.csv",
        "medical/plots/confusion.csv",
        "val_auc",
        "text/plots/confusion.csv",
        "vision/plots/confusion.csv",
        "val_accuracy",
    ):
        assert plot in html


def test_models_lists_the_registered_versions(reproduced):
    out = sh("verticals", "models", "recsys", cwd=reproduced).stdout
    row = out.splitlines()[2].split()
    assert row[:2] == ["recsys", "1"] and row[-2:] == ["passed", "production"]
    assert "hr_at_10=" in out
    rows = sh("verticals", "models", cwd=reproduced).stdout.splitlines()[2:]
    assert [r.split()[:2] for r in rows] == [[d, "1"] for d in DOMAINS]
    row = {r.split()[0]: r for r in rows}
    assert "auc=" in row["medical"] and "sensitivity=" in row["medical"]
    assert "accuracy=" in row["text"] and "baseline_accuracy=" in row["text"]
    assert "f1_macro=" in row["text"] and "accuracy=" in row["vision"]


def test_predict_writes_top_k_with_original_ids(reproduced, tmp_path):
    out = tmp_path / "recs.parquet"
    sh(
        "verticals",
        "predict",
        "recsys",
        "--output",
        str(out),
        "--users",
        "3,7",
        "--k",
        "5",
        cwd=reproduced,
    )
    recs = pd.read_parquet(out)
    assert recs.user.tolist() == [3] * 5 + [7] * 5
    assert recs["rank"].tolist() == [1, 2, 3, 4, 5] * 2
    raw = pd.read_parquet(domain_paths("recsys", reproduced).raw / "interactions.parquet")
    seen = set(zip(raw.user, raw.item, strict=True))
    assert not any((u, i) in seen for u, i in zip(recs.user, recs.item, strict=True))
    assert set(recs.item) <= set(raw.item)
    assert recs.groupby("user").score.apply(lambda s: s.is_monotonic_decreasing).all()


def test_predict_medical_scores_files_of_any_size(reproduced, tmp_path):
    scans = tmp_path / "scans"
    scans.mkdir()
    for i, size in enumerate((64, 100, 40)):
        Image.fromarray(np.full((size, size), 60 * i, np.uint8)).save(scans / f"{i}.png")
    out = tmp_path / "preds.parquet"
    sh(
        "verticals",
        "predict",
        "medical",
        "--model",
        "1",
        "--input",
        str(scans),
        "--output",
        str(out),
        cwd=reproduced,
    )
    preds = pd.read_parquet(out)
    assert preds.id.tolist() == ["0.png", "1.png", "2.png"]
    assert preds.probability.between(0, 1).all()
    _, record = open_registry(domain_paths("medical", reproduced)).fetch("1")
    assert (preds.label == (preds.probability >= record["metrics"]["threshold"])).all()


def test_predict_text_labels_every_row(reproduced, tmp_path):
    tickets = tmp_path / "tickets.csv"
    pd.DataFrame(
        {
            "id": [1, 2, 3],
            "text": [
                "I was charged twice for the headphones.",
                "My parcel has been stuck in transit for 10 days.",
                "I cannot log in to my account.",
            ],
        }
    ).to_csv(tickets, index=False)
    out = tmp_path / "preds.parquet"
    sh(
        "verticals", "predict", "text", "--input", str(tickets), "--output", str(out),
        cwd=reproduced,
    )  # fmt: skip
    preds = pd.read_parquet(out)
    assert preds.id.tolist() == ["1", "2", "3"]  # other columns pass through as read
    assert preds.label.tolist() == ["billing", "delivery", "account"]
    assert preds.probability.between(0.25, 1).all()


def test_predict_vision_labels_a_folder_and_an_archive(reproduced, tmp_path):
    from sklearn.datasets import load_digits

    digits = load_digits()
    folder = tmp_path / "digits"
    folder.mkdir()
    for i in range(3):
        image = (digits.images[i] * 255 / 16).astype(np.uint8)
        Image.fromarray(image).resize((40, 40)).save(folder / f"{i}.png")
    shutil.make_archive(str(tmp_path / "digits"), "zip", folder)
    for source in (folder, tmp_path / "digits.zip"):
        out = tmp_path / "preds.parquet"
        sh(
            "verticals", "predict", "vision", "--model", "1", "--input", str(source),
            "--output", str(out), cwd=reproduced,
        )  # fmt: skip
        preds = pd.read_parquet(out)
        assert preds.file.tolist() == ["0.png", "1.png", "2.png"]
        assert (preds.top5.map(len) == 5).all()
        assert (preds.label == preds.top5.str[0]).all()
        assert (preds.probability == preds.top5_probability.str[0]).all()
        assert preds.top5_probability.map(lambda p: list(p) == sorted(p, reverse=True)).all()


def test_predict_all_users_from_a_named_version(reproduced, tmp_path):
    out = tmp_path / "all.parquet"
    sh(
        "verticals",
        "predict",
        "recsys",
        "--model",
        "1",
        "--output",
        str(out),
        cwd=reproduced,
    )
    recs = pd.read_parquet(out)
    assert recs.user.nunique() == 300 and len(recs) == 3000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["predict", "recsys", "--output", "x.parquet", "--users", "3,nobody"],
            "error: unknown user id(s): nobody",
        ),
        (
            ["predict", "recsys", "--output", "x.parquet", "--model", "v0042"],
            "error: no model 'v0042'",
        ),
        (
            [
                "predict",
                "text",
                "--output",
                "x.parquet",
                "--input",
                "data/recsys/raw/interactions.parquet",
            ],
            "error: data/recsys/raw/interactions.parquet: no column 'text' (--text-column)",
        ),
        (["promote", "recsys", "9"], "error: no model '9' in verticals-recsys"),
        (["rollback", "recsys"], "error: verticals-recsys: no earlier production version"),
        (["stage", "recsys", "deploy"], "invalid choice: 'deploy'"),
        (["stage", "finance", "train"], "invalid choice: 'finance'"),
        (["run", "finance"], "invalid choice: 'finance'"),
        (["run", "--set", "recsys.train.epoch=3"], "recsys.train.epoch is not in"),
    ],
)
def test_cli_refuses_bad_arguments_in_one_line(reproduced, args, message):
    lock = digest(reproduced / "dvc.lock")
    proc = sh("verticals", *args, cwd=reproduced, check=False)
    assert proc.returncode == 2
    assert message in proc.stderr.strip().splitlines()[-1]
    assert "Traceback" not in proc.stderr
    assert not (reproduced / "x.parquet").exists()
    assert digest(reproduced / "dvc.lock") == lock


def test_an_unreachable_mlflow_server_is_one_line(reproduced):
    from tests.servers import free_port

    url = f"http://127.0.0.1:{free_port()}"
    for args in (["models"], ["predict", "recsys", "--output", "x.parquet"]):
        proc = sh("verticals", *args, cwd=reproduced, check=False,
                  env={"MLFLOW_TRACKING_URI": url})  # fmt: skip
        assert proc.returncode == 2
        [line] = proc.stderr.strip().splitlines()
        assert line.startswith(f"error: MLFLOW_TRACKING_URI={url} is unreachable")


def test_experiment_runs_and_a_failed_gate_keeps_production(workspace):
    sh("dvc", "repro", "register@recsys", cwd=workspace)
    sh(
        "dvc",
        "exp",
        "run",
        "register@recsys",
        "-n",
        "short",
        "-S",
        "recsys.train.max_epochs=3",
        "-S",
        "recsys.register.tolerance=-1",
        cwd=workspace,
    )
    shown = sh("dvc", "exp", "show", "--csv", cwd=workspace).stdout
    assert "short" in shown and "recsys.train.max_epochs" in shown
    paths = domain_paths("recsys", workspace)
    decision = json.loads(paths.registration.read_text())
    assert decision["version"] == 2 and decision["aliases"] == []
    assert not decision["gate"]["passed"]
    assert open_registry(paths).aliases() == {"production": 1}

    # by hand: the failed version only with --force, then back
    refused = sh("verticals", "promote", "recsys", "2", cwd=workspace, check=False)
    assert refused.returncode == 2 and "failed its gate" in refused.stderr
    assert "--force" in refused.stderr
    forced = sh("verticals", "promote", "recsys", "2", "--force", "--reason", "hotfix",
                cwd=workspace).stdout  # fmt: skip
    assert "production is version 2" in forced
    listed = sh("verticals", "models", "recsys", cwd=workspace).stdout.splitlines()
    assert listed[3].split()[-2:] == ["failed", "production"]
    back = sh("verticals", "rollback", "recsys", "--reason", "canary", cwd=workspace).stdout
    assert "rolled back to version 1" in back
    version = open_registry(paths).resolve("1")
    assert version.tags["promote_reason"] == "rollback from version 2: canary"


@contextmanager
def gpu_slots(count: int):
    """A tag concurrency limit on `gpu`, as `prefect concurrency-limit create gpu 1` makes."""
    with get_client(sync_client=True) as client:
        client.create_concurrency_limit(tag=GPU_TAG, concurrency_limit=count)
    try:
        yield
    finally:
        with get_client(sync_client=True) as client:
            client.delete_concurrency_limit_by_tag(tag=GPU_TAG)


def test_prefect_flow_matches_dvc_repro(reproduced, tmp_path, prefect_server):
    """All domains at once, one GPU slot: the same lock as `dvc repro`, one train at a time."""
    ws = make_workspace(tmp_path / "flow", TINY)
    # the server is shared: count what other tests left
    earlier = {(d, kind): len(artifacts(f"{d}-{kind}")) for d in DOMAINS for kind in KINDS}
    with gpu_slots(1):
        state = all_domains(list(DOMAINS), str(ws), return_state=True)
    rows = state.result()
    assert [r["domain"] for r in rows] == list(DOMAINS)
    for row in rows:
        assert row["stages"] == dict.fromkeys(STEPS, RAN)
        assert all(s > 0 for s in row["seconds"].values())
        assert all(w >= 0 for w in row["waited"].values())
        assert row["version"] == 1
        # TINY trains too little for the medical and vision floors: registered all the same
        version = open_registry(domain_paths(row["domain"], ws)).resolve("1")
        assert version.tags["gate"] == ("passed" if row["gate_passed"] else "failed")
    # four domains, one GPU slot and one `dvc repro` at a time: someone waited for a turn
    assert max(w for row in rows for w in row["waited"].values()) > 1
    # Determinism: two cold runs (this one and `dvc repro`'s) agree byte for byte, metrics too
    for domain in DOMAINS:
        ours, theirs = (domain_paths(domain, w).metrics for w in (ws, reproduced))
        assert ours.read_bytes() == theirs.read_bytes(), domain
    assert (ws / "dvc.lock").read_bytes() == (reproduced / "dvc.lock").read_bytes()
    assert "up to date" in sh("dvc", "status", cwd=ws).stdout

    for again in all_domains(list(DOMAINS), str(ws)):
        assert again["stages"] == dict.fromkeys(STEPS, SKIPPED)

    with get_client(sync_client=True) as client:
        children = child_runs(client, state)
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[children["recsys"].id]))
        )
        trains = [
            t
            for t in client.read_task_runs(
                task_run_filter=TaskRunFilter(
                    name=TaskRunFilterName(any_=[f"train@{d}" for d in DOMAINS])
                ),
                flow_run_filter=FlowRunFilter(
                    id=FlowRunFilterId(any_=[r.id for r in children.values()])
                ),
            )
        ]
    text = "\n".join(log.message for log in logs)
    assert len(trains) == len(DOMAINS)
    assert not overlaps([(t.start_time, t.end_time) for t in trains])  # one GPU slot
    assert overlaps([(r.start_time, r.end_time) for r in children.values()])  # concurrent domains
    assert "Running stage 'train@recsys'" in text
    assert "git add" not in text and "dvc push" not in text  # DVC's hints are left out
    assert "epoch 1/6 train_loss=" in text  # training's progress reaches the Prefect UI
    assert "trained NeuMF on" in text and "best epoch" in text

    row_of = {row["domain"]: row for row in rows}
    for domain in DOMAINS:
        history = artifacts(f"{domain}-metrics")
        assert len(history) == earlier[domain, "metrics"] + 2  # one per run, under one key
        rows = json.loads(history[0].data)
        metrics = json.loads((domain_paths(domain, ws).metrics).read_text())
        assert {r["metric"]: r["value"] for r in rows} == metrics
        decisions = artifacts(f"{domain}-registry")  # the newest first
        assert len(decisions) == earlier[domain, "registry"] + 1  # the no-op run decided nothing
        decision = decisions[0]
        promoted = "promoted to production" if row_of[domain]["gate_passed"] else "not promoted"
        assert decision.data.startswith(f"# {domain} version 1: {promoted}")
        assert f"reports/{domain}/plots/" in decision.data
        assert f"# verticals {domain} model" in decision.data  # the version's model card
        assert "## Lineage" in decision.data and "git revision" in decision.data


KINDS = ("metrics", "registry")  # the artifacts a domain's flow run publishes


def artifacts(key: str) -> list:
    """Every artifact under `key`, newest first."""
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    with get_client(sync_client=True) as client:
        return client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
            sort=ArtifactSort.CREATED_DESC,
        )


def child_runs(client, state) -> dict:
    """The parent run's domain subflow runs, by domain."""
    parent = state.state_details.flow_run_id
    return {
        r.name: r
        for r in client.read_flow_runs()
        if r.parent_task_run_id and client.read_task_run(r.parent_task_run_id).flow_run_id == parent
    }


def overlaps(intervals) -> bool:
    return any(later[0] < earlier[1] for earlier, later in pairwise(sorted(intervals)))


def test_verticals_run_names_the_failed_stage_in_one_line(tmp_path, prefect_server):
    ws = make_workspace(tmp_path / "ws", [*TINY, f"recsys.ingest.source={tmp_path}/none.csv"])
    lock = digest(ws / "dvc.lock")
    proc = sh(
        "verticals",
        "run",
        "recsys",
        cwd=ws,
        check=False,
        env={"PREFECT_API_URL": prefect_server.api},
    )
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ingest@recsys failed: cannot read ")
    assert "none.csv" in last
    assert digest(ws / "dvc.lock") == lock


def test_reproduce_in_process_logs_the_stage_and_decides_as_dvc_repro(workspace):
    """The flow's in-process `dvc repro --single-item`: every line to the log, DVC's run cache
    honoured, the stage's own error as the reason, and this process's directory kept."""
    import os

    from flows.repro import RESTORED, reproduce

    here, lines = os.getcwd(), []
    ran = reproduce(str(workspace), "ingest@recsys", lines.append)
    assert (ran.code, ran.outcome) == (0, RAN)
    assert lines[:2] == ["Running stage 'ingest@recsys':", "> verticals stage recsys ingest"]
    assert any(line.startswith("ingested ") for line in lines)  # the stage's own output
    assert os.getcwd() == here
    lock = digest(workspace / "dvc.lock")

    shutil.rmtree(domain_paths("recsys", workspace).raw)
    restored = reproduce(str(workspace), "ingest@recsys", lines.append)
    assert (restored.code, restored.outcome) == (0, RESTORED)
    assert "up to date" in sh("dvc", "status", "ingest@recsys", cwd=workspace).stdout
    assert digest(workspace / "dvc.lock") == lock

    params = workspace / "params.yaml"
    params.write_text(params.read_text().replace("source: default", "source: missing.csv", 1))
    failed = reproduce(str(workspace), "ingest@recsys", lines.append)
    assert failed.code == 1 and failed.why.startswith("cannot read "), failed
    assert digest(workspace / "dvc.lock") == lock


@pytest.fixture
def flaky_http(tmp_path):
    """A loopback HTTP server that answers 503 to its first two requests, then serves files."""
    import functools
    import http.server
    import threading

    requests = []

    class Flaky(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            if len(requests) <= 2:
                self.send_error(503, "try again")
            else:
                super().do_GET()

    folder = tmp_path / "served"
    folder.mkdir()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Flaky, directory=str(folder))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield folder, f"http://127.0.0.1:{server.server_port}", requests
    server.shutdown()


def test_ingest_from_a_url_retries_with_backoff(tmp_path, flaky_http, prefect_server):
    from flows.pipeline import stage, stage_options

    folder, url, requests = flaky_http
    (folder / "ratings.csv").write_text(
        "user,item,rating,timestamp\n"
        + "".join(f"{u},{i},4,{u * 10 + i}\n" for u in range(5) for i in range(4))
    )
    ws = make_workspace(tmp_path / "ws", [*TINY, f"recsys.ingest.source={url}/ratings.csv"])
    options = stage_options("recsys", "ingest", str(ws))
    assert options["retries"] == 3 and "gpu" not in options["tags"]
    state = stage.with_options(**options)("recsys", "ingest", str(ws), return_state=True)
    assert state.is_completed() and state.result()[0] == RAN
    assert len(requests) >= 3  # two 503s (one per failed try), then the file
    assert "retries" not in stage_options("recsys", "train", str(ws))
    assert "gpu" in stage_options("recsys", "train", str(ws))["tags"]


def test_two_runs_at_once_on_one_workspace_both_succeed(tmp_path, prefect_server):
    """The second waits for DVC's repo lock instead of failing on it; the lock stays whole."""
    from flows.repro import stage_env

    ws = make_workspace(tmp_path / "ws", TINY)
    env = {**stage_env(), "PREFECT_API_URL": prefect_server.api}
    runs = [
        subprocess.Popen(
            ["verticals", "run", "recsys"],
            cwd=ws,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    status = sh("dvc", "status", "register@recsys", cwd=ws).stdout
    assert "up to date" in status
    assert all(re.search(r"^recsys .* 1\s+production$", out, re.M) for out in outputs), outputs


def test_all_domains_on_a_dask_local_cluster(reproduced, prefect_server):
    from flows.pipeline import dask_runner

    on_dask = all_domains.with_options(task_runner=dask_runner("local"))
    domains = ["recsys", "text"]  # two domains, one per worker process
    rows = on_dask(domains, str(reproduced))
    assert [r["domain"] for r in rows] == domains
    assert all(r["stages"] == dict.fromkeys(STEPS, SKIPPED) for r in rows)


def test_the_ui_shows_the_run_and_its_stages_completed(reproduced, prefect_server, tmp_path):
    """Debian's Chromium, driven by Playwright, on the real server's UI."""
    from playwright.sync_api import expect, sync_playwright

    from flows.pipeline import domain_pipeline

    run = domain_pipeline("recsys", str(reproduced), return_state=True)
    url = f"{prefect_server.url}/runs/flow-run/{run.state_details.flow_run_id}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        expect(page.locator(".state-badge").first).to_have_text("Completed", timeout=60_000)
        page.get_by_text("Task Runs", exact=True).first.click()
        expect(page.get_by_text(f"({len(STEPS)} Completed)")).to_be_visible(timeout=30_000)
        for step in STEPS:
            item = page.locator(".state-list-item", has_text=f"{step}@recsys")
            expect(item).to_have_class(re.compile("state-list-item--completed"))
        page.screenshot(path=tmp_path / "flow-run.png", full_page=True)
        browser.close()
