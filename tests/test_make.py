"""Make targets that touch the tree."""

import subprocess

from tests.conftest import REPO
from tests.workspace import clone_workspace, git


def test_make_clean_removes_pipeline_outputs_and_nothing_git_tracks(tmp_path):
    ws = clone_workspace(REPO, tmp_path)
    made = [ws / "data/recsys/raw/interactions.parquet", ws / "reports/text/live/metrics.json",
            ws / "reports/vision/registration.json"]  # fmt: skip
    for path in made:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    subprocess.run(["make", "clean"], cwd=ws, check=True, capture_output=True)
    assert not any(path.exists() for path in made)
    assert git("status", "--porcelain", cwd=ws) == ""  # no tracked file deleted
