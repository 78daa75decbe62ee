"""NeuMF trained with BCE on positives plus negatives drawn fresh each epoch, to the best
validation HR@10."""

import dataclasses
import shutil
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from models.recsys import NeuMF, NeuMFConfig
from tasks.common.io import atomic_dir, read_json, write_json
from tasks.common.paths import DomainPaths
from tasks.common.runtime import Trainable, clear_checkpoints, fit, make_accelerator, shard
from tasks.common.training import described, fingerprint, model_and_train_params, write_summary
from tasks.recsys import preprocess
from tasks.recsys.preprocess import ITEMS, USERS, Split
from tasks.recsys.sampling import sample_negatives
from tasks.recsys.scoring import hit_rate, model_scorer, sampled_ranks

WEIGHTS, CONFIG, SEEN = "model.safetensors", "model.json", "seen.npy"


VAL_K = 10  # early stopping watches HR@10 on the validation users, as the gate does on test


@dataclass(frozen=True)
class TrainParams:
    max_epochs: int = 30
    patience: int = 3  # epochs without a better validation HR@10 before stopping
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


def bce(model: torch.nn.Module, batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, int]:
    users, items, labels = batch
    return F.binary_cross_entropy_with_logits(model(users, items).float(), labels), len(labels)


def validation_hit_rate(split: Split, model: torch.nn.Module) -> dict[str, float]:
    model.eval()
    ranks = sampled_ranks(split.val, split.val_negatives, model_scorer(model))
    return {f"val_hr_at_{VAL_K}": hit_rate(ranks, VAL_K)}


def train(
    split: Split, model_cfg: NeuMFConfig, p: TrainParams, checkpoints: Path, live_dir=None
) -> tuple[NeuMF, dict]:
    """Train to the best validation HR@10 (resuming a matching checkpoint); (model, summary)."""
    acc = make_accelerator()
    torch.manual_seed(p.seed)
    model = NeuMF(len(split.users), len(split.items), model_cfg)
    optimizer = torch.optim.Adam(model.parameters(), lr=p.lr, weight_decay=p.weight_decay)
    model, optimizer = acc.prepare(model, optimizer)

    def steps(epoch: int):
        rng = np.random.default_rng([p.seed, epoch])
        samples = epoch_samples(split, p.negatives_per_positive, rng)
        tensors = [torch.from_numpy(a).to(acc.device) for a in samples]  # once an epoch
        for start in range(0, len(tensors[0]), p.batch_size):
            yield [tuple(shard(t[start : start + p.batch_size], acc) for t in tensors)]

    return fit(
        acc,
        Trainable(model, optimizer),
        steps=steps,
        loss_fn=bce,
        validate=partial(validation_hit_rate, split),
        monitor=f"val_hr_at_{VAL_K}",
        p=p,
        config=fingerprint(model_cfg, p, split.train.to_numpy(), split.val.to_numpy()),
        checkpoints=checkpoints,
        live_dir=live_dir,
    )


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
    model_cfg, p = model_and_train_params(paths, PARAMS)
    split = preprocess.load(paths.processed)
    model, summary = train(split, model_cfg, p, paths.checkpoints, paths.live)
    with atomic_dir(paths.model) as tmp:
        save_model(model, model_cfg, split, paths.processed, tmp)
        write_summary(tmp, summary)
    clear_checkpoints(paths.checkpoints)
    print(f"trained NeuMF on {len(split.train)} positives: {described(summary)} -> {paths.model}")
