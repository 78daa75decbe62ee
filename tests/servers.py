"""Local Prefect, MLflow and `verticals api` servers in child processes, for tests and
benchmarks.

`make ui` and `make mlflow` start the same servers on ports 4200 and 5000; these take a free
loopback port and a database of their own, so they never meet the developer's.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

HOST = "127.0.0.1"  # loopback only: nothing the project starts listens beyond this machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_until_healthy(health: str, server: subprocess.Popen, timeout: float = 120) -> None:
    """Poll a server's health URL until it answers, failing early if the server exits."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(health, timeout=5)
            return
        except OSError:
            if server.poll() is not None:
                raise RuntimeError(f"{server.args} exited with {server.returncode}") from None
            if time.monotonic() > deadline:
                raise TimeoutError(f"no answer from {health} in {timeout:.0f} s") from None
            time.sleep(0.5)


@contextmanager
def local_server(home: Path):
    """Yields the server's URL (the UI; the API is under /api); this process's flows use it."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    url = f"http://{HOST}:{free_port()}"
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_UI_API_URL": f"{url}/api"}
    cmd = [sys.executable, "-m", "prefect", "server", "start", "--host", HOST]
    cmd += ["--port", url.rsplit(":", 1)[1]]
    home.mkdir(parents=True, exist_ok=True)
    with (home / "server.log").open("w") as log:
        server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until_healthy(f"{url}/api/health", server)
            with temporary_settings({PREFECT_API_URL: f"{url}/api"}):
                yield url
        finally:
            server.terminate()
            server.wait(timeout=60)


@contextmanager
def local_mlflow_server(home: Path):
    """Yields the URL of a real `mlflow server` (SQLite backend, proxied artifacts), as a team
    would run one with a database and an object store."""
    url = f"http://{HOST}:{free_port()}"
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", HOST, "--workers", "1"]
    cmd += ["--port", url.rsplit(":", 1)[1], "--backend-store-uri", f"sqlite:///{home}/mlflow.db"]
    cmd += ["--artifacts-destination", str(home / "artifacts")]
    home.mkdir(parents=True, exist_ok=True)
    with (home / "server.log").open("w") as log:
        server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until_healthy(f"{url}/health", server)
            yield url
        finally:
            server.terminate()
            server.wait(timeout=60)


@contextmanager
def local_api(ws: Path, *domains: str, env: dict | None = None):
    """Yields the URL of `verticals api` serving `ws` (its log: ws/api.log), once ready."""
    from flows.repro import stage_env

    url = f"http://{HOST}:{free_port()}"
    cmd = ["verticals", "api", *domains, "--port", url.rsplit(":", 1)[1]]
    with (ws / "api.log").open("w") as log:
        server = subprocess.Popen(
            cmd,
            cwd=ws,
            env={**stage_env(), **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its model processes are stopped with it
        )
        try:
            wait_until_healthy(f"{url}/readyz", server, timeout=300)
        except RuntimeError:
            raise RuntimeError((ws / "api.log").read_text()[-2000:]) from None
        try:
            yield url
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)


def batch_requests(url: str, domain: str) -> tuple[float, float]:
    """(requests, batches) a domain's model processes have predicted, from /metrics."""
    found = {"sum": 0.0, "count": 0.0}
    text = urllib.request.urlopen(f"{url}/metrics", timeout=30).read().decode()
    for line in text.splitlines():
        for part in found:
            if line.startswith(f'verticals_api_batch_requests_{part}{{domain="{domain}"}}'):
                found[part] = float(line.split()[-1])
    return found["sum"], found["count"]
