"""A fresh git workspace holding a project's files, as `git clone` plus uncommitted edits would.

Tests and benchmarks run in one, so they never touch the developer's own data, lock or registry.
"""

import shutil
import subprocess
from pathlib import Path


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout


def clone_workspace(src: Path, dest: Path) -> Path:
    files = git("ls-files", "--cached", "--others", "--exclude-standard", cwd=src).split("\n")
    for rel in filter(None, files):
        if (src / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / rel, dest / rel)
    commit_all(dest, init=True)
    return dest


def commit_all(folder: Path, message: str = "workspace", init: bool = False) -> None:
    if init:
        git("init", "-q", cwd=folder)
        # an identity of its own: DVCLive and `dvc exp run` commit, even where git has none
        git("config", "user.name", "verticals", cwd=folder)
        git("config", "user.email", "verticals@localhost", cwd=folder)
    git("add", "-A", cwd=folder)
    git("commit", "-qm", message, cwd=folder)
