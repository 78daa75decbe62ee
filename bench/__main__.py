"""The benchmark report: `make bench` or `python -m bench`.

Everything runs in a temporary clone with the default params, in one process run, so the
figures are ratios taken under the same machine load. Nothing of the developer's is touched.
"""

import importlib
import statistics
import tempfile
from pathlib import Path

# torch._dynamo segfaults if it first loads after TensorFlow has trained in the same process
import torch._dynamo  # noqa: F401, I001

from bench import memory, orchestration, serving
from bench.machine import cpu_model, matmul_flops
from flows.report import table
from tasks.common.io import read_json
from tasks.common.paths import DOMAINS, STEPS, domain_paths
from tests.servers import local_server
from tests.workspace import clone_workspace

REPO = Path(__file__).resolve().parents[1]
# A domain's benchmark is bench/<domain>.py: throughput(ws), TARGET, quality(metrics), SIZE_KNOB.
BENCHES = {d: importlib.import_module(f"bench.{d}") for d in DOMAINS}


def measure(ws: Path, domain: str) -> dict:
    """On a workspace `dvc repro` has brought up to date."""
    noop_repro = orchestration.timed("dvc", "repro", f"register@{domain}", cwd=ws)
    # on the benchmark's own server; the median of three, as one run now and then waits ~2 s
    noop_flow = statistics.median(
        orchestration.timed("verticals", "run", domain, cwd=ws) for _ in range(3)
    )
    ours, seed = BENCHES[domain].throughput(ws)
    return {
        "quality": BENCHES[domain].quality(read_json(domain_paths(domain, ws).metrics)),
        "noop_repro": noop_repro,
        "noop_flow": noop_flow,
        "ours": ours,
        "seed": seed,
        "flops": BENCHES[domain].train_flops(ws),  # per training sample
    }


def report(
    pipeline: dict, results: dict, worker: dict, rss: dict, online: dict, matmul: float
) -> str:
    lines = [f"verticals benchmark: {cpu_model()}, default params, one run", ""]
    lines += [
        f"fp32 matmul (2048x2048, all cores): {matmul / 1e9:.0f} GFLOP/s; utilisation is a "
        "domain's training FLOP/s (its model's FLOPs per sample x samples/s) over it",
        "",
    ]
    lines.append(
        table(
            ["domain", "train/s ours", "seed-style", "ratio (target)", "utilisation",
             "no-op repro", "no-op verticals run (median of 3)", "quality"],
            [
                [d, f"{r['ours']:,.0f}", f"{r['seed']:,.0f}",
                 f"{r['ours'] / r['seed']:.2f}x ({BENCHES[d].TARGET})",
                 f"{r['ours'] * r['flops'] / matmul:.1%}",
                 f"{r['noop_repro']:.1f} s", f"{r['noop_flow']:.1f} s", r["quality"]]
                for d, r in results.items()
            ],
        )
    )  # fmt: skip
    lines += [
        "",
        f"every domain through one `dvc repro` in a fresh clone: cold {pipeline['cold']:.0f} s "
        f"(target <= 300 s), then with nothing changed {pipeline['noop']:.1f} s (target <= 3 s)",
    ]
    lines += ["", orchestration.report(worker)]
    lines += ["", "peak RSS of each stage, MB: default data / 10x data (ratio; target <= 1.5x)", ""]
    lines.append(
        table(
            ["domain", *STEPS],
            [
                [d, *(f"{m[1][s]:.0f} / {m[10][s]:.0f} ({m[10][s] / m[1][s]:.2f}x)" for s in STEPS)]
                for d, m in rss.items()
            ],
        )
    )
    lines += ["", serving.report(online)]
    return "\n".join(lines)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, local_server(Path(tmp) / "prefect"):
        ws = clone_workspace(REPO, Path(tmp) / "ws")
        pipeline = {
            "cold": orchestration.timed("dvc", "repro", cwd=ws),
            "noop": orchestration.timed("dvc", "repro", cwd=ws),
        }
        results = {d: measure(ws, d) for d in DOMAINS}
        online = serving.measure(ws)  # on the versions just registered
        worker = orchestration.through_worker(clone_workspace(REPO, Path(tmp) / "worker"), DOMAINS)
    rss = {d: memory.measure(d) for d in DOMAINS}
    print(report(pipeline, results, worker, rss, online, matmul_flops()))


if __name__ == "__main__":
    main()
