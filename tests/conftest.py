import functools
import http.server
import subprocess
import threading
from pathlib import Path

import pytest
import torch

# TensorFlow and PyTorch share this test process (the stages never do). torch._dynamo, which
# torch.optim loads lazily, segfaults if it first loads after TensorFlow has trained: load it now.
import torch._dynamo  # noqa: F401, I001

from flows.overrides import apply_overrides
from flows.pipeline import stage_env
from tasks.common.workspace import clone_workspace, commit_all

REPO = Path(__file__).resolve().parents[1]
# Small enough for seconds per stage, big enough that NCF must learn tastes to pass its gate.
TINY = [
    "recsys.ingest.synthetic.users=300",
    "recsys.ingest.synthetic.items=200",
    "recsys.train.epochs=6",
    "recsys.train.lr=0.01",
    "medical.ingest.synthetic.count=600",
    "medical.train.epochs=3",
    "text.ingest.synthetic.count=800",
    "text.train.epochs=3",
    "vision.preprocess.size=16",
    "vision.preprocess.resize=18",
    "vision.train.epochs=3",
]


def sh(
    *cmd: str, cwd: Path, check: bool = True, env: dict | None = None
) -> subprocess.CompletedProcess:
    env = {**stage_env(), **(env or {})}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if check and proc.returncode:
        raise AssertionError(
            f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def make_workspace(dest: Path, overrides: list[str]) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    clone_workspace(REPO, dest)
    apply_overrides(dest, overrides)
    commit_all(dest, "tiny overrides")
    return dest


def assert_same_weights(a, b) -> None:
    """Bit-identical parameters and buffers: what a resumed run must reproduce."""
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for name in sa:
        assert torch.equal(sa[name], sb[name]), name


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return make_workspace(tmp_path / "ws", TINY)


@pytest.fixture(scope="session")
def prefect_server():
    """One temporary Prefect server for the whole session (it costs seconds to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def http_folder(tmp_path):
    """A real HTTP server on loopback, serving tmp_path."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield tmp_path, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
