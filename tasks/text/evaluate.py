"""The classifier's report on the test split (tasks/common/classification.py)."""

from dataclasses import dataclass

from tasks.common.classification import write_report
from tasks.common.params import stage_params
from tasks.common.paths import DomainPaths
from tasks.text import preprocess
from tasks.text.classify import predict_proba
from tasks.text.train import load_model


@dataclass(frozen=True)
class EvaluateParams:
    batch_size: int = 128


# the params.yaml sections (under the domain) this stage reads, as dvc.yaml declares them
PARAMS = {"evaluate": EvaluateParams}


def run(paths: DomainPaths) -> None:
    p = stage_params(paths.root, EvaluateParams, "text.evaluate")
    model, tokenizer = load_model(paths.model)
    names = preprocess.load_labels(paths.processed)
    test = preprocess.load(paths.processed, "test")
    train_labels = preprocess.load(paths.processed, "train").labels
    probs = predict_proba(model, tokenizer, test.ids, p.batch_size)
    write_report(paths, test.labels, probs, train_labels, names)
