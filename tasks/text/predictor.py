"""The text inference contract: a model folder loaded once, then batches of texts -> the most
likely label and its probability. `verticals predict` and the API both go through it."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from tasks.text.classify import predict_proba
from tasks.text.train import load_model

BATCH = 128


@dataclass(frozen=True)
class Predictor:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase  # truncates as in training: model_max_length is saved

    @classmethod
    def load(cls, folder: Path, record: dict) -> "Predictor":
        return cls(*load_model(folder))

    def predict(self, texts: list[str]) -> list[dict]:
        if not texts:
            return []
        ids = self.tokenizer(list(texts), truncation=True)["input_ids"]
        probs = predict_proba(self.model, self.tokenizer, [np.asarray(x) for x in ids], BATCH)
        best = probs.argmax(axis=1)
        labels = self.model.config.id2label
        return [
            {"label": labels[int(i)], "probability": round(float(p[i]), 6)}
            for i, p in zip(best, probs, strict=True)
        ]
