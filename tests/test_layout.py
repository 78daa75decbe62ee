"""dvc.yaml spells the layout that tasks/common/paths.py derives: they must agree."""

import ast
import importlib.util
from pathlib import Path

import pytest
import yaml

from tasks.common.params import load_params
from tasks.common.paths import DOMAINS, STEPS, domain_paths, stage_module
from tests.conftest import REPO


def test_dvc_yaml_covers_every_domain_and_step_in_order():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert list(stages) == list(STEPS)
    for step in STEPS:  # written out, so that no params edit can turn into a shell command
        assert list(stages[step]["foreach"]) == list(DOMAINS), step
    assert "domains" not in load_params(REPO)


@pytest.mark.parametrize("domain", DOMAINS)
def test_dvc_yaml_outputs_are_the_derived_paths(domain):
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    paths = domain_paths(domain, REPO)

    def declared(step, kind="outs"):
        names = [next(iter(o)) if isinstance(o, dict) else o for o in stages[step]["do"][kind]]
        return [n.replace("${item}", domain).replace("${key}", domain) for n in names]

    def rel(*ps):
        return [p.relative_to(REPO).as_posix() for p in ps]

    assert declared("ingest") == rel(paths.raw)
    assert declared("preprocess") == rel(paths.processed)
    assert declared("train") == rel(paths.model)
    assert declared("evaluate", "metrics") == rel(paths.metrics)
    assert declared("evaluate", "plots") == rel(paths.plots)
    assert declared("register") == rel(paths.registration)


PROJECT_PACKAGES = ("tasks", "models", "flows")


def project_imports(module: str) -> set[Path]:
    """The project's files `module` may import, at any depth, lazy imports included: read
    from the source, so nothing is imported but the project's own packages on the way."""
    files, todo = set(), [module]
    while todo:
        name = todo.pop()
        if name.split(".")[0] not in PROJECT_PACKAGES:
            continue
        try:
            spec = importlib.util.find_spec(name)
        except ModuleNotFoundError:  # `from package.module import function`
            continue
        if spec is None or spec.origin is None or Path(spec.origin) in files:
            continue
        files.add(Path(spec.origin))
        for node in ast.walk(ast.parse(Path(spec.origin).read_text())):
            if isinstance(node, ast.Import):
                todo += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                todo += [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
    return files


@pytest.mark.parametrize("step", STEPS)
def test_every_stage_depends_on_all_the_code_it_imports(step):
    """An edit to any file a stage runs reruns it: no stale outputs from changed code."""
    do = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"][step]["do"]
    for domain in DOMAINS:
        deps = [d.replace("${item}", domain).replace("${key}", domain) for d in do["deps"]]
        for path in project_imports(stage_module(domain, step)):
            name = path.relative_to(REPO).as_posix()
            assert any(name == d or name.startswith(f"{d}/") for d in deps), (step, domain, name)


def test_dvc_artifacts_point_at_each_domains_model():
    artifacts = yaml.safe_load((REPO / "dvc.yaml").read_text())["artifacts"]
    for domain in DOMAINS:
        paths = domain_paths(domain, REPO)
        assert artifacts[f"{domain}-model"]["path"] == paths.model.relative_to(REPO).as_posix()


def test_the_committed_lock_lists_every_stage_in_dag_order():
    """Both drivers update dvc.lock in place, so a clone's lock must already hold every stage."""
    lock = yaml.safe_load((REPO / "dvc.lock").read_text())["stages"]
    assert set(lock) == {f"{step}@{domain}" for step in STEPS for domain in DOMAINS}


def test_registration_is_never_restored_from_the_run_cache():
    """DVC restores no stage with a persistent output from its run cache, so register runs
    against the registry whenever its decision is missing, instead of reappearing unregistered."""
    [out] = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["register"]["do"]["outs"]
    assert out == {"reports/${item}/registration.json": {"persist": True}}


def test_a_domain_smuggled_into_params_never_reaches_a_shell(tmp_path):
    """Even with a matching tasks/ folder, `dvc` neither lists nor runs such a stage."""
    from tests.conftest import sh
    from tests.workspace import clone_workspace

    ws = clone_workspace(REPO, tmp_path)
    evil = "x$(touch pwned)"
    (ws / "tasks" / evil).mkdir()
    params = ws / "params.yaml"
    params.write_text(f"domains: [recsys, '{evil}']\n" + params.read_text())
    listed = sh("dvc", "stage", "list", cwd=ws).stdout
    assert "pwned" not in listed and "ingest@recsys" in listed
    from dvc.repo import Repo

    with Repo(str(ws)) as repo:
        commands = [stage.cmd for stage in repo.index.stages]
    assert len(commands) == len(STEPS) * len(DOMAINS)
    assert all(cmd.split()[2] in DOMAINS for cmd in commands)  # verticals stage <domain> <step>
    assert not (ws / "pwned").exists()


def test_dvc_yaml_and_prefect_yaml_are_generated_from_the_domains():
    from flows.layout import stale

    assert stale(REPO) == []  # else: run `verticals layout`


def test_a_domain_is_a_tasks_folder_a_model_file_and_a_params_section(tmp_path):
    from tasks.common.paths import discover
    from tests.conftest import TINY_BY_DOMAIN

    params = load_params(REPO)
    for domain in DOMAINS:
        assert (REPO / "models" / f"{domain}.py").is_file() and domain in params
    assert set(TINY_BY_DOMAIN) == set(DOMAINS)
    (tmp_path / "half").mkdir()  # a folder without every stage module is not a domain
    (tmp_path / "half" / "ingest.py").write_text("")
    (tmp_path / "whole").mkdir()
    for step in ("ingest", "preprocess", "train", "evaluate"):
        (tmp_path / "whole" / f"{step}.py").write_text("")
    assert discover(tmp_path) == ("whole",)
