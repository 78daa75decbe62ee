"""Batches of similar length, padded to their own longest text: few pad tokens to compute."""

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

# Like transformers' LengthGroupedSampler: sort by length within windows of this many
# batches, so batches are short-padded yet every epoch still mixes the data.
GROUP_WINDOW = 50


def training_batches(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator, group_by_length: bool
) -> list[np.ndarray]:
    """Full batches of indices in a seeded random order; the remainder waits for a later epoch."""
    order = rng.permutation(len(lengths))
    if group_by_length:
        window = batch_size * GROUP_WINDOW
        chunks = [order[i : i + window] for i in range(0, len(order), window)]
        order = np.concatenate([c[np.argsort(-lengths[c], kind="stable")] for c in chunks])
    batches = [order[i : i + batch_size] for i in range(0, len(order) - batch_size + 1, batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def inference_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Every index once, longest first, so each batch pads to a near-equal length."""
    order = np.argsort(-lengths, kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def collate(
    ids: list[np.ndarray], index: np.ndarray, tokenizer: PreTrainedTokenizerBase
) -> dict[str, torch.Tensor]:
    """input_ids and attention_mask, right-padded to this batch's longest text."""
    return tokenizer.pad({"input_ids": [ids[i] for i in index]}, return_tensors="pt")
