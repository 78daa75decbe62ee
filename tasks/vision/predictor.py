"""The vision inference contract: a model folder loaded once, then batches of decoded RGB
images (uint8, any size) -> label, probability and the top 5. `verticals predict` and the API
both go through it."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from tasks.common.params import parse
from tasks.vision.classify import predict_proba
from tasks.vision.preprocess import PreprocessParams, fit
from tasks.vision.train import load_model

BATCH = 256
TOP = 5


@dataclass(frozen=True)
class Predictor:
    model: nn.Module
    classes: list[str]
    preprocess: PreprocessParams  # the sizes the model was trained at

    @classmethod
    def load(cls, folder: Path, record: dict) -> "Predictor":
        p = parse(PreprocessParams, record["params"]["preprocess"], "vision.preprocess")
        return cls(*load_model(folder), p)

    def predict(self, images: list[np.ndarray]) -> list[dict]:
        if not images:
            return []
        batch = torch.stack([fit(image, self.preprocess) for image in images]).numpy()
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
