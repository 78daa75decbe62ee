"""The medical inference contract: a model folder loaded once, then batches of scans (uint8,
gray or RGB, any size) -> calibrated probability and the label at the registered threshold.
`verticals predict` and the API both go through it."""

from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from tasks.common.images import resize
from tasks.common.io import read_json
from tasks.medical.evaluate import calibrate
from tasks.medical.ingest import to_channels
from tasks.medical.train import CONFIG, load_model, probabilities

BATCH = 256


@dataclass(frozen=True)
class Predictor:
    model: keras.Model
    size: int  # the model's input side; other sizes are resized
    channels: int  # 1 (gray) or 3 (RGB): scans are converted to it
    slope: float  # Platt calibration, fitted on validation at evaluate
    intercept: float
    threshold: float  # chosen on validation for the target sensitivity

    @classmethod
    def load(cls, folder: Path, record: dict) -> "Predictor":
        metrics, config = record["metrics"], read_json(folder / CONFIG)
        return cls(
            load_model(folder),
            config["size"],
            config.get("channels", 1),
            # versions registered before calibration chose their threshold on raw probabilities
            metrics.get("calibration_slope", 1.0),
            metrics.get("calibration_intercept", 0.0),
            metrics["threshold"],
        )

    @property
    def mode(self) -> str:
        """How image files are decoded for this model, as its training data was."""
        return "RGB" if self.channels == 3 else "L"

    def predict(self, images: list[np.ndarray]) -> list[dict]:
        if not images:
            return []
        batch = np.stack([to_channels(resize(image, self.size), self.channels) for image in images])
        probs = calibrate(probabilities(self.model, batch, BATCH), self.slope, self.intercept)
        return [{"probability": float(p), "label": int(p >= self.threshold)} for p in probs]
