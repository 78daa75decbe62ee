"""A local Prefect server (API and UI) in a child process, for tests and benchmarks.

`make ui` starts the same server on port 4200; this one takes a free loopback port and a
database of its own, so it never meets the developer's.
"""

import os
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
