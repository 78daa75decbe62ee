"""Class probabilities for tokenised texts, in length-sorted batches."""

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from tasks.text.batches import collate, inference_batches


@torch.no_grad()
def predict_proba(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    ids: list[np.ndarray],
    batch_size: int = 128,
    device: torch.device | str = "cpu",
) -> np.ndarray:
    """(N, classes) softmax probabilities, rows in the order of `ids`."""
    was_training = model.training
    model.eval()
    lengths = np.fromiter((len(x) for x in ids), np.int64, len(ids))
    probs = np.zeros((len(ids), model.config.num_labels), np.float32)
    for index in inference_batches(lengths, batch_size):
        batch = {k: v.to(device) for k, v in collate(ids, index, tokenizer).items()}
        logits = model(**batch).logits.float()
        probs[index] = torch.softmax(logits, dim=-1).cpu().numpy()
    model.train(was_training)
    return probs
