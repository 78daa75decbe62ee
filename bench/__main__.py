"""The benchmark report: `make bench` or `python -m bench`.

Everything runs in a temporary clone with the default params, in one process run, so the
figures are ratios taken under the same machine load. Nothing of the developer's is touched.
"""

import os
import subprocess
import tempfile
import time
from pathlib import Path

# torch._dynamo segfaults if it first loads after TensorFlow has trained in the same process
import torch._dynamo  # noqa: F401, I001

from bench import medical, recsys, text, vision
from flows.pipeline import stage_env
from flows.report import table
from tasks.common.io import read_json
from tasks.common.paths import DOMAINS, STEPS, domain_paths
from tasks.common.workspace import clone_workspace

REPO = Path(__file__).resolve().parents[1]
THROUGHPUT = {m.__name__.split(".")[-1]: m.throughput for m in (recsys, medical, text, vision)}
TARGETS = {"recsys": "1.5x", "medical": "1.3x", "text": "2x", "vision": "3x"}
QUALITY = {
    "recsys": lambda m: f"hr@10 {m['hr_at_10'] / m['baseline_hr_at_10']:.2f}x popularity (>= 1.5x)",
    "medical": lambda m: f"auc {m['auc']:.3f} (>= 0.9)",
    "text": lambda m: f"accuracy {m['accuracy']:.3f} (>= 0.9)",
    "vision": lambda m: f"accuracy {m['accuracy']:.3f} (>= 0.95)",
}


def timed(*cmd: str, cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=stage_env(), check=True, capture_output=True)
    return time.perf_counter() - start


def flow_seconds(domain: str) -> dict[str, float]:
    """Each stage's wall time as a task of the Prefect flow, cold in a clone of its own."""
    from flows.pipeline import domain_pipeline

    with tempfile.TemporaryDirectory() as tmp:
        return domain_pipeline(domain, str(clone_workspace(REPO, Path(tmp))))["seconds"]


def measure(ws: Path, domain: str) -> dict:
    cold = timed("dvc", "repro", f"register@{domain}", cwd=ws)
    noop_repro = timed("dvc", "repro", f"register@{domain}", cwd=ws)
    noop_flow = timed("verticals", "run", domain, cwd=ws)
    alone = {s: timed("verticals", "stage", domain, s, cwd=ws) for s in STEPS}
    ours, seed = THROUGHPUT[domain](ws)
    return {
        "quality": QUALITY[domain](read_json(domain_paths(domain, ws).metrics)),
        "cold": cold,
        "noop_repro": noop_repro,
        "noop_flow": noop_flow,
        "alone": alone,
        "ours": ours,
        "seed": seed,
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ws = clone_workspace(REPO, Path(tmp))
        results = {d: measure(ws, d) for d in DOMAINS}
    in_flow = {d: flow_seconds(d) for d in DOMAINS}
    print(f"verticals benchmark: {os.cpu_count()} cores, default params, one run\n")
    print(
        table(
            [
                "domain",
                "train/s ours",
                "seed-style",
                "ratio (target)",
                "cold repro",
                "no-op repro",
                "no-op verticals run",
                "quality",
            ],
            [
                [
                    d,
                    f"{r['ours']:,.0f}",
                    f"{r['seed']:,.0f}",
                    f"{r['ours'] / r['seed']:.2f}x ({TARGETS[d]})",
                    f"{r['cold']:.1f} s",
                    f"{r['noop_repro']:.1f} s",
                    f"{r['noop_flow']:.1f} s",
                    r["quality"],
                ]
                for d, r in results.items()
            ],
        )
    )
    print("\nstage cost: the stage alone against the same stage as a Prefect task (seconds)\n")
    print(
        table(
            ["domain", *STEPS],
            [
                [d, *(f"{results[d]['alone'][s]:.1f} / {in_flow[d][s]:.1f}" for s in STEPS)]
                for d in DOMAINS
            ],
        )
    )


if __name__ == "__main__":
    main()
