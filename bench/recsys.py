"""recsys benchmark: training throughput against a seed-style loop, and orchestration costs.

Run with `make bench` (or `python -m bench.recsys`). It works in a temporary clone with the
default params, so the developer's own data, lock and registry are never touched.
"""

import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

from flows.report import table
from models.recsys import NeuMF, NeuMFConfig
from tasks.common.io import read_json
from tasks.common.params import load_params, parse
from tasks.common.paths import STEPS, domain_paths
from tasks.common.workspace import clone_workspace
from tasks.recsys import preprocess
from tasks.recsys.preprocess import Split
from tasks.recsys.train import TrainParams, train

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SEED_BATCH = 256  # a typical tutorial DataLoader batch; the seed names none


def seed_style_epoch(split: Split, model: NeuMF, ratio: int, optimizer) -> int:
    """The seed's loop, fixed to run: per-row Python negative sampling, a DataLoader, fp32."""
    seen = set(zip(split.train.user.tolist(), split.train.item.tolist(), strict=True))
    seen |= set(zip(split.test.user.tolist(), split.test.item.tolist(), strict=True))
    users, items, labels = [], [], []
    for u, i in zip(split.train.user.tolist(), split.train.item.tolist(), strict=True):
        users.append(u), items.append(i), labels.append(1.0)
        for _ in range(ratio):
            j = random.randrange(len(split.items))
            while (u, j) in seen:
                j = random.randrange(len(split.items))
            users.append(u), items.append(j), labels.append(0.0)
    data = TensorDataset(torch.tensor(users), torch.tensor(items), torch.tensor(labels))
    criterion = torch.nn.BCEWithLogitsLoss()
    for u, i, y in DataLoader(data, batch_size=SEED_BATCH, shuffle=True):
        model.zero_grad()
        loss = criterion(model(u, i), y)
        loss.backward()
        optimizer.step()
    return len(labels)


def throughput(ws: Path) -> tuple[float, float]:
    params = load_params(ws)["recsys"]
    cfg = parse(NeuMFConfig, params["model"], "recsys.model")
    p = parse(TrainParams, params["train"], "recsys.train")
    split = preprocess.load(domain_paths("recsys", ws).processed)
    samples = len(split.train) * (1 + p.negatives_per_positive) * p.epochs

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as ckpt:
        train(split, cfg, p, Path(ckpt))
    ours = samples / (time.perf_counter() - start)

    torch.manual_seed(p.seed)
    model = NeuMF(len(split.users), len(split.items), cfg)
    optimizer = torch.optim.Adam(model.parameters(), lr=p.lr)
    start = time.perf_counter()
    done = sum(
        seed_style_epoch(split, model, p.negatives_per_positive, optimizer) for _ in range(p.epochs)
    )
    return ours, done / (time.perf_counter() - start)


def timed(*cmd: str, cwd: Path) -> float:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def flow_seconds(ws: Path) -> dict[str, float]:
    """Each stage's wall time as a task of the Prefect flow, from cold."""
    from flows.pipeline import all_domains

    (ws / "dvc.lock").unlink()
    shutil.rmtree(ws / ".dvc" / "cache" / "runs")  # or DVC restores instead of running
    [row] = all_domains(["recsys"], str(ws))
    return row["seconds"]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ws = clone_workspace(REPO, Path(tmp))
        cold = timed("dvc", "repro", cwd=ws)
        metrics = read_json(domain_paths("recsys", ws).metrics)
        noop_repro = timed("dvc", "repro", cwd=ws)
        noop_flow = timed("verticals", "run", "recsys", cwd=ws)
        alone = {step: timed("verticals", "stage", "recsys", step, cwd=ws) for step in STEPS}
        in_flow = flow_seconds(ws)
        ours, seed = throughput(ws)

    lift = metrics["hr_at_10"] / metrics["baseline_hr_at_10"]
    print(f"recsys benchmark on {os.cpu_count()} cores, default params\n")
    print(
        table(
            ["measure", "value"],
            [
                ["training samples/s, ours", f"{ours:,.0f}"],
                ["training samples/s, seed-style loop", f"{seed:,.0f}"],
                ["throughput ratio (target >= 1.5x)", f"{ours / seed:.1f}x"],
                ["hr_at_10 / baseline_hr_at_10 (target >= 1.5x)", f"{lift:.2f}x"],
                ["cold dvc repro (target <= 60 s)", f"{cold:.1f} s"],
                ["no-op dvc repro (target <= 3 s)", f"{noop_repro:.1f} s"],
                ["no-op verticals run recsys (target <= 10 s)", f"{noop_flow:.1f} s"],
            ],
        )
    )
    print()
    print(
        table(
            ["stage", "alone (s)", "as a flow task (s)", "overhead (s)"],
            [
                [s, f"{alone[s]:.2f}", f"{in_flow[s]:.2f}", f"{in_flow[s] - alone[s]:+.2f}"]
                for s in STEPS
            ],
        )
    )


if __name__ == "__main__":
    main()
