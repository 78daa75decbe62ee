"""The inference contract on each domain's registered model: `Predictor.load(folder, record)`
then `predict(batch)`, one result per input, the same whether an input comes alone or batched
with others (what dynamic batching in a server relies on)."""

import numpy as np
import pytest

from tasks.common.paths import domain_paths
from tasks.common.registry import open_registry

pytestmark = pytest.mark.slow


def inputs(domain: str) -> list:
    rng = np.random.default_rng(0)
    if domain == "recsys":
        from tasks.recsys.predictor import Query

        return [Query("3", 5), Query("7", 2), Query("3", 1)]
    if domain == "medical":
        return [rng.integers(0, 256, (s, s), dtype=np.uint8) for s in (64, 100, 40)]
    if domain == "text":
        return ["I was charged twice.", "Where is my parcel? It has been ten days.", "login"]
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in ((40, 40), (30, 50))]


def assert_close(a, b) -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_close(a[key], b[key])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_close(x, y)
    elif isinstance(a, float):
        assert a == pytest.approx(b, abs=1e-4)
    else:
        assert a == b


@pytest.mark.parametrize("domain", ["recsys", "medical", "text", "vision"])
def test_a_batch_gives_what_its_inputs_give_alone(reproduced, domain):
    import importlib

    predictor_type = importlib.import_module(f"tasks.{domain}.predictor").Predictor
    predictor = predictor_type.load(*open_registry(domain_paths(domain, reproduced)).fetch("1"))
    batch = inputs(domain)
    together = predictor.predict(batch)
    assert len(together) == len(batch)
    for one, result in zip(batch, together, strict=True):
        assert_close(predictor.predict([one])[0], result)
    assert predictor.predict([]) == []
