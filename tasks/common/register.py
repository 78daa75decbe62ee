"""The register stage, shared by every domain: record the trained model, then gate promotion."""

from tasks.common.io import read_json, write_json
from tasks.common.params import load_params, parse
from tasks.common.paths import DomainPaths
from tasks.common.registry import GateParams, Registry, git_revision, lock_hashes


def key_metrics(gate: GateParams) -> list[str]:
    """The metrics a gate reads, in order: what summaries and listings show."""
    names = [gate.metric, *gate.floors]
    for lift in gate.lifts:
        names += [lift.metric, lift.over]
    return list(dict.fromkeys(names))


def record(paths: DomainPaths, params: dict, gate: GateParams) -> dict:
    rel = lambda p: p.relative_to(paths.root).as_posix()  # noqa: E731
    train_stage = f"train@{paths.domain}"
    return {
        "domain": paths.domain,
        "metrics": read_json(paths.metrics),
        "key_metrics": key_metrics(gate),
        "params": {k: v for k, v in params.items() if k != "register"},
        "model_hash": lock_hashes(paths.root, train_stage, rel(paths.model)),
        "data_hash": lock_hashes(paths.root, train_stage, rel(paths.processed)),
        "git_rev": git_revision(paths.root),
    }


def run(paths: DomainPaths) -> None:
    params = load_params(paths.root)[paths.domain]
    gate = parse(GateParams, params["register"], f"{paths.domain}.register")
    decision = Registry(paths.registry).register(paths.model, record(paths, params, gate), gate)
    write_json(paths.registration, {**decision, "key_metrics": key_metrics(gate)})
    state = "promoted to production" if "production" in decision["aliases"] else "not promoted"
    print(f"{paths.domain} {decision['version']}: {state}")
    for reason in decision["gate"]["reasons"]:
        print(f"  {reason}")
