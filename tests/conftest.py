import functools
import http.server
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
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


def add_remote(ws: Path, url: str, **settings: str) -> None:
    """A default DVC remote for this clone only (.dvc/config.local), as `make remote` adds."""
    if "://" not in url:
        Path(url).mkdir(parents=True, exist_ok=True)
    sh("dvc", "remote", "add", "--local", "--default", "--force", "storage", url, cwd=ws)
    for key, value in settings.items():
        sh("dvc", "remote", "modify", "--local", "storage", key, value, cwd=ws)


def assert_same_weights(a, b) -> None:
    """Bit-identical parameters and buffers: what a resumed run must reproduce."""
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for name in sa:
        assert torch.equal(sa[name], sb[name]), name


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return make_workspace(tmp_path / "ws", TINY)


@dataclass(frozen=True)
class PrefectServer:
    url: str  # the UI

    @property
    def api(self) -> str:
        return f"{self.url}/api"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory):
    """One real `prefect server start` (API and UI) on a free loopback port for the session."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    url = f"http://127.0.0.1:{free_port()}"
    home = tmp_path_factory.mktemp("prefect-home")
    env = {**stage_env(), "PREFECT_HOME": str(home), "PREFECT_UI_API_URL": f"{url}/api"}
    port = url.rsplit(":", 1)[1]
    cmd = [
        sys.executable,
        "-m",
        "prefect",
        "server",
        "start",
        "--host",
        "127.0.0.1",
        "--port",
        port,
    ]
    log = (home / "server.log").open("w")
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_healthy(f"{url}/api/health", server)
        with temporary_settings({PREFECT_API_URL: f"{url}/api"}):
            yield PrefectServer(url)
    finally:
        server.terminate()
        server.wait(timeout=60)


def wait_until_healthy(health: str, server: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(health, timeout=5)
            return
        except OSError:
            assert server.poll() is None, "the Prefect server exited"
            assert time.monotonic() < deadline, f"no answer from {health}"
            time.sleep(0.5)


@pytest.fixture
def http_folder(tmp_path):
    """A real HTTP server on loopback, serving tmp_path."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield tmp_path, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
