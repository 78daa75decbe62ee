import pytest

from tasks.common.errors import InputError
from tasks.common.registry import GateParams, Lift, Registry, gate

GATE = GateParams(metric="hr", tolerance=0.01, lifts=(Lift("hr", "base_hr", 1.5),))


def record(model_hash: str, hr: float, base: float = 0.2) -> dict:
    return {"model_hash": model_hash, "data_hash": "d" * 32, "metrics": {"hr": hr, "base_hr": base}}


def model_dir(tmp_path, name: str):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "weights.bin").write_bytes(name.encode())
    return folder


def test_gate_checks_lift_floor_and_production():
    params = GateParams(metric="hr", tolerance=0.01, floors={"hr": 0.3}, lifts=GATE.lifts)
    assert gate(params, {"hr": 0.5, "base_hr": 0.2}, None)[0]
    passed, reasons = gate(params, {"hr": 0.29, "base_hr": 0.1}, None)
    assert not passed and reasons[0].startswith("FAIL: hr 0.2900 >= floor 0.3")
    assert not gate(params, {"hr": 0.5, "base_hr": 0.4}, None)[0]  # lift 1.25 < 1.5
    assert gate(params, {"hr": 0.495, "base_hr": 0.2}, {"hr": 0.5})[0]  # within tolerance
    passed, reasons = gate(params, {"hr": 0.48, "base_hr": 0.2}, {"hr": 0.5})
    assert not passed and reasons[-1].startswith("FAIL: hr 0.4800 >= production 0.5000")


def test_passing_versions_move_production_and_failing_ones_do_not(tmp_path):
    reg = Registry(tmp_path / "registry")
    first = reg.register(model_dir(tmp_path, "a"), record("h1", 0.5), GATE)
    assert first["version"] == "v0001" and first["aliases"] == ["production"]

    worse = reg.register(model_dir(tmp_path, "b"), record("h2", 0.45), GATE)
    assert worse["version"] == "v0002" and worse["aliases"] == []
    assert not worse["gate"]["passed"]
    assert reg.aliases() == {"production": "v0001"}

    better = reg.register(model_dir(tmp_path, "c"), record("h3", 0.6), GATE)
    assert better["aliases"] == ["production"]
    assert (reg.resolve() / "weights.bin").read_bytes() == b"c"
    assert (reg.resolve("v0002") / "weights.bin").read_bytes() == b"b"
    assert [v["version"] for v in reg.versions()] == ["v0001", "v0002", "v0003"]


def test_registering_the_same_model_hash_returns_the_existing_version(tmp_path):
    reg = Registry(tmp_path / "registry")
    first = reg.register(model_dir(tmp_path, "a"), record("h1", 0.5), GATE)
    again = reg.register(model_dir(tmp_path, "b"), record("h1", 0.5), GATE)
    assert again == first
    assert len(reg.versions()) == 1


def test_resolving_an_unknown_version_names_what_exists(tmp_path):
    reg = Registry(tmp_path / "registry")
    reg.register(model_dir(tmp_path, "a"), record("h1", 0.5), GATE)
    with pytest.raises(InputError, match="no model 'v0009'.*known: production, v0001"):
        reg.resolve("v0009")
