import functools
import http.server
import os
import subprocess
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

# TensorFlow and PyTorch share this test process (the stages never do). torch._dynamo, which
# torch.optim loads lazily, segfaults if it first loads after TensorFlow has trained: load it now.
import torch._dynamo  # noqa: F401, I001

from flows.overrides import apply_overrides
from flows.repro import stage_env
from tasks.common.training import STOP_AFTER, Interrupted
from tests.servers import local_mlflow_server, local_server
from tests.workspace import clone_workspace, commit_all

REPO = Path(__file__).resolve().parents[1]
# Small enough for seconds per stage, big enough that NCF must learn tastes to pass its gate.
# One entry per domain (tests/test_layout.py checks they follow the domain list).
TINY_BY_DOMAIN = {
    "recsys": [
        "recsys.ingest.synthetic.users=300",
        "recsys.ingest.synthetic.items=200",
        "recsys.train.max_epochs=6",
        "recsys.train.lr=0.01",
    ],
    "medical": ["medical.ingest.synthetic.count=600", "medical.train.max_epochs=3"],
    "text": ["text.ingest.synthetic.count=800", "text.train.max_epochs=3"],
    "vision": [
        "vision.preprocess.size=16",
        "vision.preprocess.resize=18",
        "vision.train.max_epochs=3",
    ],
}
TINY = [o for overrides in TINY_BY_DOMAIN.values() for o in overrides]


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the marks
def pytest_collection_modifyitems(items):
    """Under pytest-xdist (`make test`), the tests on the reproduced workspace share a worker,
    so it is reproduced once; the others spread over the workers."""
    for item in items:
        if "reproduced" in item.fixturenames:
            item.add_marker(pytest.mark.xdist_group("reproduced"))


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


def add_remote(ws: Path, url: str, **settings: str) -> None:
    """A default DVC remote for this clone only (.dvc/config.local), as `make remote` adds."""
    if "://" not in url:
        Path(url).mkdir(parents=True, exist_ok=True)
    sh("dvc", "remote", "add", "--local", "--default", "--force", "storage", url, cwd=ws)
    for key, value in settings.items():
        sh("dvc", "remote", "modify", "--local", "storage", key, value, cwd=ws)


@contextmanager
def stops_after(epochs: int):
    """Training inside ends after `epochs` epochs, as a crash would (the loop's one hook)."""
    os.environ[STOP_AFTER] = str(epochs)
    try:
        with pytest.raises(Interrupted):
            yield
    finally:
        del os.environ[STOP_AFTER]


def assert_same_weights(a, b) -> None:
    """Bit-identical parameters and buffers: what a resumed run must reproduce."""
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for name in sa:
        assert torch.equal(sa[name], sb[name]), name


@pytest.fixture(scope="session")
def reproduced(tmp_path_factory) -> Path:
    """One clone with every domain reproduced by `dvc repro` (TINY), shared by the session:
    its outputs are the uninterrupted reference runs. A test that changes it puts it back."""
    ws = make_workspace(tmp_path_factory.mktemp("reproduced"), TINY)
    sh("dvc", "repro", cwd=ws)
    return ws


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return make_workspace(tmp_path / "ws", TINY)


@dataclass(frozen=True)
class PrefectServer:
    url: str  # the UI

    @property
    def api(self) -> str:
        return f"{self.url}/api"


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory):
    """One real `prefect server start` (API and UI) on a free loopback port for the session."""
    with local_server(tmp_path_factory.mktemp("prefect-home")) as url:
        yield PrefectServer(url)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """One real `mlflow server` (SQLite backend, proxied artifacts) on a free loopback port,
    as a team would run it with a database and an object store; yields its URL."""
    with local_mlflow_server(tmp_path_factory.mktemp("mlflow-server")) as url:
        yield url


@pytest.fixture
def http_folder(tmp_path):
    """A real HTTP server on loopback, serving tmp_path."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield tmp_path, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
