"""NeuMF trained with BCE on positives plus negatives drawn fresh each epoch."""

import dataclasses
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from models.recsys import NeuMF, NeuMFConfig
from tasks.common.io import atomic_dir, read_json, write_json
from tasks.common.params import load_params, parse
from tasks.common.paths import DomainPaths
from tasks.common.runtime import Trainable, clear_checkpoints, fit, make_accelerator, run_config
from tasks.recsys import preprocess
from tasks.recsys.preprocess import ITEMS, USERS, Split
from tasks.recsys.sampling import sample_negatives

WEIGHTS, CONFIG, SEEN = "model.safetensors", "model.json", "seen.npy"


@dataclass(frozen=True)
class TrainParams:
    epochs: int = 10
    batch_size: int = 2048  # the global batch, shared out among DDP processes
    lr: float = 0.002
    weight_decay: float = 0.0
    negatives_per_positive: int = 4
    seed: int = 0


def epoch_samples(
    split: Split, ratio: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every training positive, `ratio` fresh negatives for each, and 1/0 labels, shuffled."""
    pos_u, pos_i = split.train.user.to_numpy(), split.train.item.to_numpy()
    neg_u = np.repeat(pos_u, ratio)
    neg_i = sample_negatives(neg_u, len(split.items), split.seen, rng)
    users = np.concatenate([pos_u, neg_u])
    items = np.concatenate([pos_i, neg_i])
    labels = np.concatenate([np.ones(len(pos_u)), np.zeros(len(neg_u))]).astype(np.float32)
    order = rng.permutation(len(users))
    return users[order], items[order], labels[order]


def train(
    split: Split,
    model_cfg: NeuMFConfig,
    p: TrainParams,
    checkpoints: Path,
    live_dir: Path | None = None,
    stop_after: int | None = None,
) -> NeuMF | None:
    """Train (resuming a matching checkpoint); the model, or None if stopped early."""
    acc = make_accelerator()
    torch.manual_seed(p.seed)
    model = NeuMF(len(split.users), len(split.items), model_cfg)
    optimizer = torch.optim.Adam(model.parameters(), lr=p.lr, weight_decay=p.weight_decay)
    model, optimizer = acc.prepare(model, optimizer)
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def run_epoch(epoch: int) -> dict[str, float]:
        users, items, labels = epoch_samples(
            split, p.negatives_per_positive, np.random.default_rng([p.seed, epoch])
        )
        # Each process takes its own stride of the shuffled samples and a share of the batch,
        # so the processes' batches together are exactly the single-process batch.
        shard = slice(acc.process_index, None, acc.num_processes)
        tensors = [torch.from_numpy(a[shard]).to(acc.device) for a in (users, items, labels)]
        per_rank = p.batch_size // acc.num_processes
        model.train()
        total = torch.zeros((), device=acc.device)
        for start in range(0, len(tensors[0]), per_rank):
            u, i, y = (t[start : start + per_rank] for t in tensors)
            with acc.autocast():
                loss = loss_fn(model(u, i).float(), y)
            optimizer.zero_grad(set_to_none=True)
            acc.backward(loss)
            optimizer.step()
            total += loss.detach() * len(y)
        return {"train_loss": acc.reduce(total, "sum").item() / len(labels)}

    done = fit(
        acc,
        Trainable(model, optimizer),
        epochs=p.epochs,
        seed=p.seed,
        config=run_config(model_cfg, p, split.train.to_numpy()),
        checkpoints=checkpoints,
        run_epoch=run_epoch,
        live_dir=live_dir,
        stop_after=stop_after,
    )
    return acc.unwrap_model(model) if done else None


def save_model(model: NeuMF, cfg: NeuMFConfig, split: Split, src: Path, folder: Path) -> None:
    """A self-contained model folder: weights, config, id maps and known interactions."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, folder / WEIGHTS)
    write_json(
        folder / CONFIG,
        {"n_users": len(split.users), "n_items": len(split.items), **dataclasses.asdict(cfg)},
    )
    for name in (USERS, ITEMS):
        shutil.copyfile(src / name, folder / name)
    np.save(folder / SEEN, split.seen)


def load_model(folder: Path) -> NeuMF:
    meta = read_json(folder / CONFIG)
    n_users, n_items = meta.pop("n_users"), meta.pop("n_items")
    cfg = NeuMFConfig(**{**meta, "mlp_layers": tuple(meta["mlp_layers"])})
    model = NeuMF(n_users, n_items, cfg)
    model.load_state_dict(load_file(folder / WEIGHTS))
    return model.eval()


# the params.yaml sections (under the domain) this stage reads, as dvc.yaml declares them
PARAMS = {"model": NeuMFConfig, "train": TrainParams}


def run(paths: DomainPaths) -> None:
    params = load_params(paths.root)["recsys"]
    model_cfg = parse(NeuMFConfig, params["model"], "recsys.model")
    p = parse(TrainParams, params["train"], "recsys.train")
    split = preprocess.load(paths.processed)
    model = train(split, model_cfg, p, paths.checkpoints, paths.live)
    with atomic_dir(paths.model) as tmp:
        save_model(model, model_cfg, split, paths.processed, tmp)
    clear_checkpoints(paths.checkpoints)
    print(f"trained NeuMF for {p.epochs} epochs on {len(split.train)} positives -> {paths.model}")
