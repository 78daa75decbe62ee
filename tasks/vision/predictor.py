"""The vision inference contract: a model folder loaded once, then batches of decoded RGB
images (uint8, any size) -> label, probability and the top 5. `verticals predict` and the API
both go through it."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from tasks.vision.classify import predict_proba
from tasks.vision.preprocess import Sizes, fit
from tasks.vision.train import load_model

BATCH = 256
TOP = 5


@dataclass(frozen=True)
class Predictor:
    model: nn.Module
    classes: list[str]
    sizes: Sizes  # what the model was trained at

    @classmethod
    def load(cls, folder: Path, record: dict) -> "Predictor":
        return cls(*load_model(folder))

    def predict(self, images: list[np.ndarray]) -> list[dict]:
        if not images:
            return []
        batch = torch.stack([fit(image, self.sizes) for image in images]).numpy()
        probs = predict_proba(self.model, batch, BATCH)
        top = np.argsort(-probs, axis=1)[:, : min(TOP, len(self.classes))]
        shown = probs.astype(np.float64).round(6)
        labels = np.asarray(self.classes)
        return [
            {
                "label": str(labels[row[0]]),
                "probability": float(p[row[0]]),
                "top5": labels[row].tolist(),
                "top5_probability": p[row].tolist(),
            }
            for row, p in zip(top, shown, strict=True)
        ]
