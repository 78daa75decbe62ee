"""The classifier's report on the test split (tasks/common/classification.py)."""

from dataclasses import dataclass

from tasks.common.classification import write_report
from tasks.common.params import stage_params
from tasks.common.paths import DomainPaths
from tasks.vision import preprocess
from tasks.vision.classify import predict_proba
from tasks.vision.train import load_model


@dataclass(frozen=True)
class EvaluateParams:
    batch_size: int = 256


# the params.yaml sections (under the domain) this stage reads, as dvc.yaml declares them
PARAMS = {"evaluate": EvaluateParams}


def run(paths: DomainPaths) -> None:
    p = stage_params(paths.root, EvaluateParams, "vision.evaluate")
    model, classes, _ = load_model(paths.model)
    test = preprocess.load(paths.processed, "test")
    train_labels = preprocess.load(paths.processed, "train").labels
    probs = predict_proba(model, test.images, p.batch_size)
    write_report(paths, test.labels, probs, train_labels, classes)
