"""Online predictions under load: part of `make bench`, or alone with `python -m bench.serving`
(a clone of this repository reading its registry: run `make run` first).

For medical, text and vision, CLIENTS clients each send one-item requests back to back for
SECONDS, to `verticals api` with batching on (params.yaml's api.max_batch_size) and off (1), in
one run.
Target on 2 cores for text and vision: batching gives >= 3x the unbatched throughput at an
equal or lower p99. medical's small CNN costs a few ms a call, so HTTP and decoding bound it.
"""

import asyncio
import base64
import io
import json
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from bench.machine import cpu_model
from flows.overrides import apply_overrides
from flows.report import table
from tasks.common.paths import registry_store
from tasks.common.serving import endpoint, load_api_params
from tests.servers import batch_requests, local_api
from tests.workspace import clone_workspace

DOMAINS = ("medical", "text", "vision")
CLIENTS = 32
SECONDS = 20
# batched / unbatched requests per second, where the model's call is most of a request's cost
TARGETS = {"text": 3.0, "vision": 3.0}


def one_item(domain: str) -> dict:
    if domain == "text":
        return {"texts": ["I was charged twice for one order, please refund me"]}
    from PIL import Image

    shape = (64, 64) if domain == "medical" else (32, 32, 3)  # a gray scan, a colour photo
    pixels = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return {"images": [base64.b64encode(buffer.getvalue()).decode()]}


@contextmanager
def api(ws: Path, max_batch_size: int, env: dict):
    apply_overrides(ws, [f"api.max_batch_size={max_batch_size}"])
    with local_api(ws, *DOMAINS, env=env) as url:
        yield url


async def load(url: str, domain: str, seconds: float) -> tuple[list[float], int]:
    """(latencies of answered requests, failures): CLIENTS loops until the time is up. The
    client is aiohttp: httpx spends several ms of CPU a request, which the server would lack."""
    import aiohttp

    path = url + endpoint(domain)
    body, latencies, failures = json.dumps(one_item(domain)), [], 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=CLIENTS)
    headers = {"content-type": "application/json"}
    async with aiohttp.ClientSession(connector=connector) as client:

        async def loop() -> None:
            nonlocal failures
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                async with client.post(path, data=body, headers=headers) as answer:
                    await answer.read()
                if answer.status == 200:
                    latencies.append(time.perf_counter() - start)
                else:
                    failures += 1

        await asyncio.gather(*(loop() for _ in range(CLIENTS)))
    return latencies, failures


def measure_one(url: str, domain: str) -> dict:
    asyncio.run(load(url, domain, 2))  # warm-up: first calls build kernels and caches
    before = batch_requests(url, domain)
    start = time.perf_counter()
    latencies, failures = asyncio.run(load(url, domain, SECONDS))
    elapsed = time.perf_counter() - start
    after = batch_requests(url, domain)
    p50, p95, p99 = np.percentile(latencies, [50, 95, 99]) * 1000
    return {
        "rps": len(latencies) / elapsed,
        "p50": p50,
        "p95": p95,
        "p99": p99,
        "batch": (after[0] - before[0]) / max(after[1] - before[1], 1),
        "failures": failures,
    }


def measure(ws: Path, env: dict | None = None) -> dict:
    """{domain: {"on": figures, "off": figures}} for a workspace whose served domains have
    production versions (its params.yaml is changed: use a clone)."""
    results = {d: {} for d in DOMAINS}
    for mode, size in (("on", load_api_params(ws).max_batch_size), ("off", 1)):
        with api(ws, size, env or {}) as url:
            for domain in DOMAINS:
                results[domain][mode] = measure_one(url, domain)
    return results


def report(results: dict) -> str:
    rows = [
        [d, mode, f"{r['rps']:,.0f}", f"{r['p50']:.0f}", f"{r['p95']:.0f}", f"{r['p99']:.0f}",
         f"{r['batch']:.1f}", str(r["failures"])]
        for d, modes in results.items()
        for mode, r in modes.items()
    ]  # fmt: skip
    lines = [
        f"online predictions: {CLIENTS} clients, one-item requests, "
        f"{SECONDS} s per domain and mode",
        "",
        table(
            ["domain", "batching", "req/s", "p50 ms", "p95 ms", "p99 ms", "mean batch", "failed"],
            rows,
        ),
        "",
    ]
    for d, modes in results.items():
        on, off = modes["on"], modes["off"]
        target = f" (target >= {TARGETS[d]:.0f}x)" if d in TARGETS else ""
        lines.append(
            f"{d}: batching gives {on['rps'] / off['rps']:.1f}x the requests/s{target}, "
            f"p99 {on['p99']:.0f} ms against {off['p99']:.0f} ms unbatched"
        )
    return "\n".join(lines)


def main() -> None:
    source = Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    with tempfile.TemporaryDirectory() as tmp:
        ws = clone_workspace(source, Path(tmp) / "ws")
        registry = f"sqlite:///{registry_store(source)}/mlflow.db"
        print(cpu_model(), "\n", sep="")
        print(report(measure(ws, {"MLFLOW_TRACKING_URI": registry})))


if __name__ == "__main__":
    main()
