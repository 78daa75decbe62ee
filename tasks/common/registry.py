"""A small model registry: immutable numbered versions and movable aliases, per domain.

Layout under `data/<domain>/registry/`:
  v0001/          a copy of the model folder plus `version.json` (metrics, params, hashes, git rev)
  aliases.json    {"production": "v0001"}
A version folder is written beside its final name and renamed into place, and `aliases.json`
is replaced atomically, so a crash never leaves a half-registered version.
"""

import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import yaml

from tasks.common.errors import InputError
from tasks.common.io import atomic_dir, read_json, write_json

PRODUCTION = "production"
ALIASES = "aliases.json"
RECORD = "version.json"


@dataclass(frozen=True)
class Lift:
    """`metric` must be at least `ratio` times `over` (a baseline in the same metrics)."""

    metric: str
    over: str
    ratio: float


@dataclass(frozen=True)
class GateParams:
    metric: str  # the key metric, compared with the production version
    tolerance: float = 0.0  # how far below production it may fall
    floors: dict[str, float] = field(default_factory=dict)
    lifts: tuple[Lift, ...] = ()


def gate(params: GateParams, metrics: dict, production: dict | None) -> tuple[bool, list[str]]:
    """Pure promotion decision: (passed, one reason per rule checked)."""
    checks = []
    for name, floor in params.floors.items():
        checks.append((metrics[name] >= floor, f"{name} {metrics[name]:.4f} >= floor {floor}"))
    for lift in params.lifts:
        need = lift.ratio * metrics[lift.over]
        checks.append(
            (
                metrics[lift.metric] >= need,
                f"{lift.metric} {metrics[lift.metric]:.4f} >= {lift.ratio} x {lift.over} "
                f"= {need:.4f}",
            )
        )
    if production is not None:
        need = production[params.metric] - params.tolerance
        checks.append(
            (
                metrics[params.metric] >= need,
                f"{params.metric} {metrics[params.metric]:.4f} >= production "
                f"{production[params.metric]:.4f} - {params.tolerance}",
            )
        )
    return all(ok for ok, _ in checks), [("pass: " if ok else "FAIL: ") + r for ok, r in checks]


@dataclass(frozen=True)
class Registry:
    root: Path

    def versions(self) -> list[dict]:
        if not self.root.is_dir():
            return []
        return [read_json(p) for p in sorted(self.root.glob(f"v*/{RECORD}"))]

    def aliases(self) -> dict[str, str]:
        path = self.root / ALIASES
        return read_json(path) if path.is_file() else {}

    def resolve(self, name: str = PRODUCTION) -> Path:
        """A version name (v0003) or an alias (production) -> that version's model folder."""
        version = self.aliases().get(name, name)
        folder = self.root / version
        if not (folder / RECORD).is_file():
            known = ", ".join([*self.aliases(), *(v["version"] for v in self.versions())])
            raise InputError(f"no model {name!r} in {self.root}; known: {known or 'none'}")
        return folder

    def record(self, name: str = PRODUCTION) -> dict:
        return read_json(self.resolve(name) / RECORD)

    def register(self, model_dir: Path, record: dict, gate_params: GateParams) -> dict:
        """Add `model_dir` as a new version unless its hash is already registered.

        Returns the decision: version, whether it is production, and the gate's reasons.
        """
        for existing in self.versions():
            if existing["model_hash"] == record["model_hash"]:
                return self._decision(existing, existing["gate"])
        aliases = self.aliases()
        production = read_json(self.root / aliases[PRODUCTION] / RECORD) if aliases else None
        passed, reasons = gate(gate_params, record["metrics"], production and production["metrics"])
        version = f"v{len(self.versions()) + 1:04d}"
        full = {
            **record,
            "version": version,
            "registered_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "gate": {"passed": passed, "reasons": reasons},
        }
        with atomic_dir(self.root / version) as tmp:
            shutil.copytree(model_dir, tmp, dirs_exist_ok=True)
            write_json(tmp / RECORD, full)
        if passed:
            write_json(self.root / ALIASES, {**aliases, PRODUCTION: version})
        return self._decision(full, full["gate"])

    def _decision(self, record: dict, gate_result: dict) -> dict:
        aliases = [a for a, v in self.aliases().items() if v == record["version"]]
        return {
            "version": record["version"],
            "model_hash": record["model_hash"],
            "aliases": aliases,
            "gate": gate_result,
        }


def lock_hashes(root: Path, stage: str, path: str) -> str:
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
