"""Class probabilities for uint8 image tensors, in batches."""

import numpy as np
import torch
from torch import nn

from models.vision import NORMALIZE


@torch.no_grad()
def predict_proba(
    model: nn.Module, images: np.ndarray, batch_size: int = 256, device: torch.device | str = "cpu"
) -> np.ndarray:
    """(N, classes) softmax probabilities for (N, 3, H, W) uint8 images."""
    was_training = model.training
    model.eval()
    out = []
    for start in range(0, len(images), batch_size):
        batch = torch.from_numpy(np.array(images[start : start + batch_size]))  # off the memmap
        x = NORMALIZE(batch).to(device, memory_format=torch.channels_last)
        out.append(torch.softmax(model(x).float(), dim=-1).cpu().numpy())
    model.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)
