"""dvc.yaml spells the layout that tasks/common/paths.py derives: they must agree."""

import yaml

from tasks.common.params import load_params
from tasks.common.paths import DOMAINS, STEPS, domain_paths
from tests.conftest import REPO


def test_dvc_yaml_covers_every_domain_and_step_in_order():
    dvc = yaml.safe_load((REPO / "dvc.yaml").read_text())
    assert list(dvc["stages"]) == list(STEPS)
    assert load_params(REPO)["domains"] == list(DOMAINS)


def test_dvc_yaml_outputs_are_the_derived_paths():
    dvc = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for domain in DOMAINS:
        paths = domain_paths(domain, REPO)

        def rel(p, root=paths.root):
            return p.relative_to(root).as_posix()

        def outs(step, kind="outs"):
            return [
                next(iter(o)) if isinstance(o, dict) else o for o in dvc[step]["do"].get(kind, [])
            ]

        def expand(items):
            return [i.replace("${item}", domain) for i in items]

        assert expand(outs("ingest")) == [rel(paths.raw)]
        assert expand(outs("preprocess")) == [rel(paths.processed)]
        assert expand(outs("train")) == [rel(paths.model)]
        assert expand(outs("evaluate", "metrics")) == [rel(paths.metrics)]
        assert expand(outs("evaluate", "plots")) == [rel(paths.plots)]
        assert expand(outs("register")) == [rel(paths.registration)]


def test_dvc_artifacts_point_at_each_domains_model():
    artifacts = yaml.safe_load((REPO / "dvc.yaml").read_text())["artifacts"]
    for domain in DOMAINS:
        paths = domain_paths(domain, REPO)
        assert artifacts[f"{domain}-model"]["path"] == paths.model.relative_to(REPO).as_posix()
