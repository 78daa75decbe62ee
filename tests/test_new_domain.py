"""docs/adding-a-domain.md, followed word for word: its toy domain, copied into a fresh clone,
runs through `verticals layout`, `dvc repro` and `verticals run`, and changes nothing but its
own folder, its model file, its params section and the files the document says to commit."""

import json
import re

import pytest

from tests.conftest import REPO, sh
from tests.workspace import clone_workspace, git

pytestmark = pytest.mark.slow

DOC = REPO / "docs" / "adding-a-domain.md"
FILE = re.compile(r"^#### `([^`]+)`( \(appended\))?\n\n```\w+\n(.*?)^```", re.M | re.S)
COMMITTED = ("tasks/toy/", "models/toy.py", "params.yaml", "dvc.yaml", "prefect.yaml",
             "dvc.lock", "reports/toy/")  # fmt: skip


def follow_the_document(ws) -> None:
    files = FILE.findall(DOC.read_text())
    assert {name for name, _, _ in files} >= {"models/toy.py", "params.yaml"}
    for name, appended, text in files:
        path = ws / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text((path.read_text() + "\n" if appended else "") + text)


def test_a_toy_domain_from_the_document_runs_through_dvc_and_prefect(tmp_path, prefect_server):
    ws = clone_workspace(REPO, tmp_path / "ws")
    follow_the_document(ws)
    # the clone's own packages, toy included, come first for every command and stage
    env = {"PYTHONPATH": str(ws), "PREFECT_API_URL": prefect_server.api}
    assert "toy" in sh("verticals", "layout", cwd=ws, env=env).stdout
    sh("dvc", "repro", "register@toy", cwd=ws, env=env)
    metrics = json.loads((ws / "reports" / "toy" / "metrics.json").read_text())
    assert metrics["accuracy"] >= 0.9
    registration = json.loads((ws / "reports" / "toy" / "registration.json").read_text())
    assert registration["aliases"] == ["production"]

    run = sh("verticals", "run", "toy", cwd=ws, env=env).stdout
    assert "toy" in run and "skipped" in run  # the flow finds every stage up to date

    status = git("status", "--porcelain", "--untracked-files=all", cwd=ws).splitlines()
    changed = {line[3:] for line in status}
    assert changed and all(path.startswith(COMMITTED) for path in changed), changed
