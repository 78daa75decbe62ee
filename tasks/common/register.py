"""The register stage, shared by every domain: record the trained model, then gate promotion."""

import subprocess
from pathlib import Path

import yaml

from tasks.common.errors import InputError
from tasks.common.io import read_json, write_json
from tasks.common.params import load_params, parse
from tasks.common.paths import DomainPaths
from tasks.common.registry import GateParams, key_metrics, open_registry


def lock_hash(root: Path, stage: str, path: str) -> str:
    """The md5 DVC recorded in dvc.lock for one output or dependency of a stage."""
    lock_file = root / "dvc.lock"
    try:
        entry = yaml.safe_load(lock_file.read_text())["stages"][stage]
    except (FileNotFoundError, KeyError, TypeError) as e:
        raise InputError(f"{lock_file}: no entry for {stage}; run it through dvc repro") from e
    for item in [*entry.get("outs", []), *entry.get("deps", [])]:
        if item["path"] == path:
            return item["md5"]
    raise InputError(f"{lock_file}: stage {stage} does not list {path}")


def git_revision(root: Path) -> str | None:
    out = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=False
    )
    return out.stdout.strip() or None


def record(paths: DomainPaths, params: dict) -> dict:
    rel = lambda p: p.relative_to(paths.root).as_posix()  # noqa: E731
    train_stage = f"train@{paths.domain}"
    return {
        "domain": paths.domain,
        "metrics": read_json(paths.metrics),
        "params": {k: v for k, v in params.items() if k != "register"},
        "model_hash": lock_hash(paths.root, train_stage, rel(paths.model)),
        "data_hash": lock_hash(paths.root, train_stage, rel(paths.processed)),
        "git_rev": git_revision(paths.root),
    }


def model_card(record: dict, gate_params: GateParams, plots: list[str]):
    """The version's description in the registry, in Markdown, once the gate has decided."""

    def card(passed: bool, reasons: list[str]) -> str:
        metrics = record["metrics"]
        shown = key_metrics(gate_params)
        others = [k for k in metrics if k not in shown]
        return "\n".join(
            [
                f"# verticals {record['domain']} model",
                "",
                f"Gate {'passed' if passed else 'failed'}:",
                *(f"- {r}" for r in reasons),
                "",
                "| metric | value |",
                "|---|---|",
                *(f"| **{k}** | {metrics[k]} |" for k in shown),
                *(f"| {k} | {metrics[k]} |" for k in others),
                "",
                "## Lineage",
                f"- data (DVC md5 of the processed data): `{record['data_hash']}`",
                f"- model (DVC md5 of the model folder): `{record['model_hash']}`",
                f"- git revision: `{record['git_rev'] or 'unknown'}`",
                "",
                "## Params",
                "```yaml",
                yaml.safe_dump(record["params"], sort_keys=False).rstrip(),
                "```",
                "",
                "## Plots",
                "Logged with the run under `plots/`: " + ", ".join(f"`{p}`" for p in plots),
            ]
        )

    return card


# the params.yaml sections (under the domain) this stage reads, as dvc.yaml declares them
PARAMS = {"register": GateParams}


def run(paths: DomainPaths) -> None:
    params = load_params(paths.root)[paths.domain]
    gate_params = parse(GateParams, params["register"], f"{paths.domain}.register")
    registry = open_registry(paths)
    rec = record(paths, params)
    plots = sorted(p.name for p in paths.plots.glob("*"))
    decision = registry.register(
        paths.model, paths.plots, rec, gate_params, model_card(rec, gate_params, plots)
    )
    write_json(paths.registration, {**decision, "key_metrics": key_metrics(gate_params)})
    state = "promoted to production" if "production" in decision["aliases"] else "not promoted"
    print(f"{paths.domain} version {decision['version']} in {registry.name}: {state}")
    for reason in decision["gate"]["reasons"]:
        print(f"  {reason}")
