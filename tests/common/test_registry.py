"""The registry contract, against the embedded store and a real `mlflow server` alike."""

import json
import multiprocessing
import os
import signal
import uuid

import pytest

from tasks.common.errors import InputError
from tasks.common.registry import (
    CRASH_AT,
    PRODUCTION,
    GateParams,
    Lift,
    Registry,
    check_reachable,
    gate,
)

GATE = GateParams(metric="hr", tolerance=0.01, lifts=(Lift("hr", "base_hr", 0.3),))


def card(passed, reasons) -> str:
    return f"# card\n{'passed' if passed else 'failed'}\n" + "\n".join(reasons)


def record(model_hash: str, hr: float, base: float = 0.2) -> dict:
    return {
        "domain": "test",
        "model_hash": model_hash,
        "data_hash": "d" * 32,
        "git_rev": None,
        "metrics": {"hr": hr, "base_hr": base},
        "params": {"train": {"epochs": 3, "layers": [8, 4]}, "weird key!": 1},
    }


def model_dir(tmp_path, name: str):
    folder = tmp_path / "models" / name
    folder.mkdir(parents=True)
    (folder / "weights.bin").write_bytes(name.encode())
    return folder


@pytest.fixture(params=["embedded", "server"])
def registry(request, tmp_path) -> Registry:
    """A fresh registered model, in an embedded store or on the session's MLflow server."""
    domain = f"t{uuid.uuid4().hex[:8]}"
    if request.param == "embedded":
        store = tmp_path / "store"
        store.mkdir()
        return Registry(
            domain, f"sqlite:///{store}/mlflow.db", tmp_path / "cache", (store / "a").as_uri()
        )
    return Registry(domain, request.getfixturevalue("mlflow_server"), tmp_path / "cache", None)


def register(reg: Registry, tmp_path, name: str, hr: float, model_hash: str | None = None):
    plots = tmp_path / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    (plots / "roc.csv").write_text("fpr,tpr\n0,0\n1,1\n")
    rec = record(model_hash or name, hr)
    return reg.register(model_dir(tmp_path, name), plots, rec, GATE, card)


def test_gate_checks_lift_floor_and_production():
    params = GateParams(metric="hr", tolerance=0.01, floors={"hr": 0.3}, lifts=GATE.lifts)
    assert gate(params, {"hr": 0.5, "base_hr": 0.2}, None)[0]
    passed, reasons = gate(params, {"hr": 0.29, "base_hr": 0.1}, None)
    assert not passed and reasons[0].startswith("FAIL: hr 0.2900 >= floor 0.3")
    assert not gate(params, {"hr": 0.5, "base_hr": 0.4}, None)[0]  # removes 1/6 of the misses
    assert gate(params, {"hr": 0.495, "base_hr": 0.2}, {"hr": 0.5})[0]  # within tolerance
    passed, reasons = gate(params, {"hr": 0.48, "base_hr": 0.2}, {"hr": 0.5})
    assert not passed and reasons[-1].startswith("FAIL: hr 0.4800 >= production 0.5000")


TEXT_GATE = GateParams(
    metric="accuracy",
    floors={"accuracy": 0.8, "f1_macro": 0.7},
    lifts=(Lift("accuracy", "baseline_accuracy", 0.5),),
)


@pytest.mark.parametrize(
    ("case", "metrics", "passes"),
    [
        ("constant on 50/50", {"accuracy": 0.5, "f1_macro": 0.333, "baseline_accuracy": 0.5}, 0),
        ("constant on 90/10", {"accuracy": 0.9, "f1_macro": 0.474, "baseline_accuracy": 0.9}, 0),
        ("constant on 99/1", {"accuracy": 0.99, "f1_macro": 0.497, "baseline_accuracy": 0.99}, 0),
        ("98% on 87/13", {"accuracy": 0.98, "f1_macro": 0.955, "baseline_accuracy": 0.87}, 1),
        ("98.75% on 87/13", {"accuracy": 0.9875, "f1_macro": 0.973, "baseline_accuracy": 0.87}, 1),
        ("90% on 50/50", {"accuracy": 0.9, "f1_macro": 0.9, "baseline_accuracy": 0.5}, 1),
        ("91% on 90/10", {"accuracy": 0.91, "f1_macro": 0.6, "baseline_accuracy": 0.9}, 0),
    ],
)
def test_the_gate_fits_any_class_balance(case, metrics, passes):
    assert gate(TEXT_GATE, metrics, None)[0] == bool(passes), case


def test_the_shipped_gates_refuse_a_constant_predictor():
    from tasks.common.params import load_params, parse
    from tests.conftest import REPO

    for domain in ("text", "vision"):
        gate_params = parse(GateParams, load_params(REPO)[domain]["register"], domain)
        constant = {"accuracy": 0.9, "f1_macro": 0.474, "baseline_accuracy": 0.9}
        assert not gate(gate_params, constant, None)[0], domain


def test_passing_versions_move_production_and_failing_ones_do_not(registry, tmp_path):
    first = register(registry, tmp_path, "a", 0.5)
    assert first["version"] == 1 and first["aliases"] == [PRODUCTION]

    worse = register(registry, tmp_path, "b", 0.45)
    assert worse["version"] == 2 and worse["aliases"] == [] and not worse["gate"]["passed"]
    assert registry.aliases() == {PRODUCTION: 1}

    better = register(registry, tmp_path, "c", 0.6)
    assert better["version"] == 3 and better["aliases"] == [PRODUCTION]
    folder, rec = registry.fetch()
    assert (folder / "weights.bin").read_bytes() == b"c" and rec["metrics"]["hr"] == 0.6
    assert (registry.fetch("2")[0] / "weights.bin").read_bytes() == b"b"
    assert [int(v.version) for v in registry.versions()] == [1, 2, 3]

    version = registry.resolve("3")
    assert version.tags["model_hash"] == "c" and version.tags["data_hash"] == "d" * 32
    assert version.description.startswith("# card\npassed")
    run = registry.client.get_run(version.run_id)
    assert run.data.params["train.epochs"] == "3" and run.data.params["weird key_"] == "1"
    assert run.data.metrics["hr"] == 0.6
    assert [a.path for a in registry.client.list_artifacts(version.run_id, "plots")] == [
        "plots/roc.csv"
    ]


def test_registering_the_same_model_hash_returns_the_existing_version(registry, tmp_path):
    first = register(registry, tmp_path, "a", 0.5)
    again = register(registry, tmp_path, "b", 0.5, model_hash="a")
    assert again == first
    assert len(registry.versions()) == 1


def test_resolving_an_unknown_version_names_what_exists(registry, tmp_path):
    register(registry, tmp_path, "a", 0.5)
    with pytest.raises(InputError, match="no model '9' in .*; known: production, 1"):
        registry.resolve("9")
    with pytest.raises(InputError, match="no model 'staging'"):
        registry.fetch("staging")


def test_promote_and_rollback_move_production_and_record_why(registry, tmp_path):
    register(registry, tmp_path, "a", 0.5)  # 1: production
    register(registry, tmp_path, "b", 0.3)  # 2: fails its gate
    register(registry, tmp_path, "c", 0.6)  # 3: production
    with pytest.raises(InputError, match="version 2 failed its gate .*FAIL: hr 0.3000.*--force"):
        registry.promote("2", "try")
    with pytest.raises(InputError, match="no model '7'"):
        registry.promote("7", "try")
    assert registry.aliases() == {PRODUCTION: 3}

    assert registry.rollback("bad in canary")["version"] == 1
    back = registry.resolve("1")
    assert back.tags["promote_reason"] == "rollback from version 3: bad in canary"
    assert "@" in back.tags["promoted_by"] and back.tags["promoted_at"]
    with pytest.raises(InputError, match="no earlier production version"):
        registry.rollback("again")

    assert registry.promote("2", "hotfix", force=True)["version"] == 2
    assert registry.resolve("2").tags["promote_reason"] == "hotfix"
    assert registry.rollback("")["version"] == 1
    assert registry.aliases() == {PRODUCTION: 1}


def test_a_version_whose_files_are_gone_is_one_clear_error(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    uri = f"sqlite:///{store}/mlflow.db"
    reg = Registry("gone", uri, tmp_path / "cache", (store / "a").as_uri())
    register(reg, tmp_path, "a", 0.5)
    for path in sorted((store / "a").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    with pytest.raises(InputError, match="version 1: its files are missing from the artifact"):
        reg.fetch()


def test_an_unreachable_server_is_one_line():
    with pytest.raises(InputError, match=r"MLFLOW_TRACKING_URI=http://\*\*\*@127.0.0.1:9/"):
        check_reachable("http://u:secret@127.0.0.1:9/")


def register_in_child(reg: Registry, tmp_path, name: str, hr: float, crash_at: str = "") -> None:
    if crash_at:
        os.environ[CRASH_AT] = crash_at
    register(reg, tmp_path, name, hr)


def child(target, *args) -> int:
    process = multiprocessing.get_context("spawn").Process(target=target, args=args)
    process.start()
    process.join(timeout=120)
    return process.exitcode


def assert_consistent(reg: Registry) -> None:
    """Every version complete (tagged, its files fetchable); production on one that passed."""
    for version in reg.versions():
        assert version.tags["gate"] in ("passed", "failed")
        assert (reg.fetch(str(version.version))[0] / "weights.bin").is_file()
    production = reg.resolve(PRODUCTION)
    assert production.tags["gate"] == "passed"


@pytest.mark.slow
@pytest.mark.parametrize("step", ["logged", "versioned", "aliased"])
def test_a_register_killed_at_any_step_is_finished_by_a_rerun(registry, tmp_path, step):
    register(registry, tmp_path, "a", 0.5)
    assert child(register_in_child, registry, tmp_path / step, "b", 0.6, step) == -signal.SIGKILL
    # the alias moves last, before its who/when/why tags
    assert registry.aliases() == {PRODUCTION: 2 if step == "aliased" else 1}
    decision = register(registry, tmp_path / "again", "b", 0.6)
    assert decision["version"] == 2 and decision["aliases"] == [PRODUCTION]
    assert len(registry.versions()) == 2
    assert_consistent(registry)
    assert registry.resolve("2").tags["promoted_by"] == "gate"
    runs = registry.client.search_runs([registry._experiment()], "tags.model_hash = 'b'")
    assert [r.info.status for r in runs if r.info.status == "FINISHED"] == ["FINISHED"]


@pytest.mark.slow
def test_concurrent_registrations_get_distinct_versions_and_production_is_the_best(
    registry, tmp_path
):
    scores = [0.50, 0.62, 0.41, 0.58, 0.66, 0.55, 0.30, 0.61]
    ctx = multiprocessing.get_context("spawn")
    processes = [
        ctx.Process(target=register_in_child, args=(registry, tmp_path / f"p{i}", f"m{i}", hr))
        for i, hr in enumerate(scores)
    ]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=300)
    assert [p.exitcode for p in processes] == [0] * len(scores)
    versions = registry.versions()
    assert sorted(int(v.version) for v in versions) == list(range(1, len(scores) + 1))
    assert sorted(v.tags["model_hash"] for v in versions) == sorted(f"m{i}" for i in range(8))
    for v in versions:  # none overwritten: each version holds its own files
        folder, rec = registry.fetch(str(v.version))
        assert (folder / "weights.bin").read_bytes() == v.tags["model_hash"].encode()
    best = registry.resolve(PRODUCTION)
    assert json.loads(best.tags["key_metrics"])["hr"] == max(scores)
    assert_consistent(registry)
