"""The model registry: MLflow's Model Registry, one registered model per domain.

Without MLFLOW_TRACKING_URI it is embedded: a SQLite database and an artifact folder in the
workspace (`.mlflow/`, git-ignored), no server. A team points MLFLOW_TRACKING_URI at one
`mlflow server`, and every worker, `predict` and the API read the same registry.

Crash safety comes from the order of writes. A version's files are logged to a run first; the
version is then created in one transaction with its tags (lineage, the gate's decision), so it
is complete or absent; the `production` alias moves last. Registering a model hash again
returns its version and finishes what a crash left undone. Version numbers are MLflow's.
"""

import fcntl
import getpass
import hashlib
import json
import logging
import os
import signal
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

from tasks.common.errors import InputError
from tasks.common.io import atomic_dir, read_json
from tasks.common.paths import DomainPaths, registry_store
from tasks.common.sources import redact

PRODUCTION = "production"
RECORD = "version.json"  # beside each version's model files: metrics, params, lineage
HISTORY = "production_history"  # a registered-model tag: the versions production held, in order
CRASH_AT = "VERTICALS_CRASH_AT"  # tests: kill -9 register at this step
PASSED, FAILED = "passed", "failed"


@dataclass(frozen=True)
class Lift:
    """`metric` must remove at least `reduction` of the error that `over` (a baseline in the
    same metrics) leaves, where error is 1 - value: a constant predictor removes none, however
    imbalanced the classes, and a good model passes on any balance."""

    metric: str
    over: str
    reduction: float


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
        base = metrics[lift.over]
        need = base + lift.reduction * (1 - base)
        checks.append(
            (
                metrics[lift.metric] >= need,
                f"{lift.metric} {metrics[lift.metric]:.4f} >= {lift.over} {base:.4f} + "
                f"{lift.reduction} x its error = {need:.4f}",
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


def key_metrics(gate_params: GateParams) -> list[str]:
    """The metrics a gate reads, in order: what summaries and listings show."""
    names = [gate_params.metric, *gate_params.floors]
    for lift in gate_params.lifts:
        names += [lift.metric, lift.over]
    return list(dict.fromkeys(names))


def model_name(domain: str) -> str:
    return f"verticals-{domain}"


def ui_page(domain: str, version: int) -> str | None:
    """The version's page in the MLflow UI, when the registry is a server."""
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    if not uri.startswith(("http://", "https://")):
        return None
    return f"{redact(uri).rstrip('/')}/#/models/{model_name(domain)}/versions/{version}"


def tracking_uri(root: Path) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{registry_store(root)}/mlflow.db"


def check_reachable(uri: str) -> None:
    """Fail in one line on a server that is not there (MLflow's client retries for minutes)."""
    import httpx

    if not uri.startswith(("http://", "https://")):
        return
    try:
        httpx.get(f"{uri.rstrip('/')}/health", timeout=10).raise_for_status()
    except httpx.HTTPError as e:
        raise InputError(
            f"MLFLOW_TRACKING_URI={redact(uri)} is unreachable ({e}): "
            "start a server (`make mlflow`) or unset it for the embedded registry"
        ) from None


def crash_point(step: str) -> None:
    if os.environ.get(CRASH_AT) == step:
        os.kill(os.getpid(), signal.SIGKILL)


def who() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()}"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def registered_at(version) -> str:
    return datetime.fromtimestamp(version.creation_timestamp / 1000, UTC).isoformat(
        timespec="seconds"
    )


def quiet_mlflow() -> None:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


@dataclass(frozen=True)
class Registry:
    domain: str
    uri: str
    cache: Path  # downloaded versions, one folder per version and run
    artifacts: str | None  # embedded: the folder runs' files go to; a server decides its own

    @property
    def name(self) -> str:
        return model_name(self.domain)

    @cached_property
    def client(self):
        from mlflow.tracking import MlflowClient

        quiet_mlflow()
        return MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Registrations on this machine take turns, so each gates against the latest
        production and moves the alias before the next one looks."""
        digest = hashlib.sha256(f"{self.uri}|{self.name}".encode()).hexdigest()[:16]
        path = Path(tempfile.gettempdir()) / f"verticals-registry-{digest}.lock"
        with path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    # --- reading

    def versions(self) -> list:
        from mlflow.store.model_registry import SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT as MAX

        found = self.client.search_model_versions(f"name='{self.name}'", max_results=MAX)
        return sorted(found, key=lambda v: int(v.version))

    def aliases(self) -> dict[str, int]:
        model = self._registered_model()
        return {a: int(v) for a, v in model.aliases.items()} if model else {}

    def production(self):
        version = self.aliases().get(PRODUCTION)
        return None if version is None else self.client.get_model_version(self.name, version)

    def resolve(self, ref: str = PRODUCTION):
        """A version number (3) or an alias (production) -> that ModelVersion."""
        from mlflow.exceptions import MlflowException

        ref = str(ref)
        number = ref.removeprefix("v")  # MLflow reserves aliases of this shape for versions
        try:
            if number.isdigit():
                return self.client.get_model_version(self.name, number)
            return self.client.get_model_version_by_alias(self.name, ref)
        except MlflowException:
            known = [*self.aliases(), *(str(v.version) for v in self.versions())]
            raise InputError(
                f"no model {ref!r} in {self.name} at {redact(self.uri)}; "
                f"known: {', '.join(known) or 'none'}"
            ) from None

    def fetch(self, ref: str = PRODUCTION) -> tuple[Path, dict]:
        """The version's model folder, downloaded once into the cache, and its record."""
        from mlflow.artifacts import download_artifacts
        from mlflow.exceptions import MlflowException

        version = self.resolve(ref)
        folder = self.cache / f"v{version.version}-{version.run_id}"
        if not (folder / "model" / RECORD).is_file():
            try:
                with atomic_dir(folder) as tmp:
                    download_artifacts(
                        artifact_uri=version.source, dst_path=str(tmp), tracking_uri=self.uri
                    )
                    read_json(tmp / "model" / RECORD)
            except (MlflowException, OSError) as e:
                raise InputError(
                    f"{self.name} version {version.version}: its files are missing from the "
                    f"artifact store ({version.source}): {str(e).splitlines()[0]}"
                ) from None
        return folder / "model", read_json(folder / "model" / RECORD)

    def describe(self, version) -> dict:
        """What the stage records, and the CLI and the API say, about a version: nothing in
        it changes between two registrations of one model in two fresh registries."""
        tags = version.tags
        return {
            "version": int(version.version),
            "model_hash": tags.get("model_hash"),
            "data_hash": tags.get("data_hash"),
            "metrics": json.loads(tags.get("key_metrics", "{}")),
            "aliases": [a for a, v in self.aliases().items() if v == int(version.version)],
            "gate": {
                "passed": tags.get("gate") == PASSED,
                "reasons": json.loads(tags.get("gate_reasons", "[]")),
            },
        }

    # --- writing

    def register(
        self, model_dir: Path, plots: Path, record: dict, gate_params: GateParams, card
    ) -> dict:
        """Add `model_dir` as a new version unless its hash is already registered, then move
        production to it if its gate passed. `card(passed, reasons)` writes the version's
        description (its model card). Returns `describe` of the version."""
        with self.lock():
            self._ensure_registered_model()
            version = self._find(record["model_hash"])
            if version is None:
                production = self.production()
                passed, reasons = gate(
                    gate_params,
                    record["metrics"],
                    production and json.loads(production.tags["key_metrics"]),
                )
                run_id = self._log_run(model_dir, plots, record)
                crash_point("logged")
                shown = {k: record["metrics"][k] for k in key_metrics(gate_params)}
                version = self.client.create_model_version(
                    self.name,
                    source=f"{self.client.get_run(run_id).info.artifact_uri}/model",
                    run_id=run_id,
                    tags={
                        **lineage(record),
                        "key_metrics": json.dumps(shown),
                        "gate": PASSED if passed else FAILED,
                        "gate_reasons": json.dumps(reasons),
                    },
                    description=card(passed, reasons),
                )
                crash_point("versioned")
            self._finish(version)
            return self.describe(self.client.get_model_version(self.name, version.version))

    def promote(self, ref: str, reason: str, force: bool = False) -> dict:
        with self.lock():
            version = self.resolve(ref)
            if version.tags.get("gate") != PASSED and not force:
                reasons = json.loads(version.tags.get("gate_reasons", "[]"))
                failed = "; ".join(r for r in reasons if r.startswith("FAIL")) or "no record"
                raise InputError(
                    f"{self.name} version {version.version} failed its gate ({failed}): "
                    "pass --force to promote it anyway"
                )
            self._move(int(version.version), who(), reason or "promoted by hand")
            return self.describe(self.resolve(PRODUCTION))

    def rollback(self, reason: str) -> dict:
        """Production goes back to the version that held it before the current one."""
        with self.lock():
            current = self.aliases().get(PRODUCTION)
            history = [v for v in self._history() if v != current]
            if current is None or not history:
                raise InputError(f"{self.name}: no earlier production version to roll back to")
            self._move(history[-1], who(), f"rollback from version {current}: {reason}")
            self._set_history(history)
            return self.describe(self.resolve(PRODUCTION))

    # --- internals

    def _registered_model(self):
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_registered_model(self.name)
        except MlflowException as e:
            if e.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise

    def _ensure_registered_model(self) -> None:
        if self._registered_model() is None:
            self.client.create_registered_model(
                self.name, description=f"verticals {self.domain} models"
            )

    def _find(self, model_hash: str):
        found = self.client.search_model_versions(
            f"name='{self.name}' and tags.model_hash='{model_hash}'"
        )
        return min(found, key=lambda v: int(v.version)) if found else None

    def _experiment(self) -> str:
        found = self.client.get_experiment_by_name(self.name)
        if found is not None:
            return found.experiment_id
        return self.client.create_experiment(self.name, artifact_location=self.artifacts)

    def _log_run(self, model_dir: Path, plots: Path, record: dict) -> str:
        """A finished run holding the model files, the record and the plots; one a crash left
        finished is reused, one it left running is marked killed."""
        from mlflow.entities import Metric, Param, RunStatus

        experiment = self._experiment()
        same = f"tags.model_hash = '{record['model_hash']}'"
        for run in self.client.search_runs([experiment], same):
            if run.info.status == RunStatus.to_string(RunStatus.FINISHED):
                return run.info.run_id
            self.client.set_terminated(run.info.run_id, status="KILLED")
        run_id = self.client.create_run(
            experiment, run_name=f"{self.domain} {record['model_hash'][:8]}", tags=lineage(record)
        ).info.run_id
        params = [Param(k, str(v)[:6000]) for k, v in flatten(record["params"]).items()]
        stamp = int(datetime.now(UTC).timestamp() * 1000)
        metrics = [
            Metric(mlflow_key(k), float(v), stamp, 0)
            for k, v in record["metrics"].items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        ]
        for start in range(0, len(params), 100):
            self.client.log_batch(run_id, params=params[start : start + 100])
        self.client.log_batch(run_id, metrics=metrics)
        self.client.log_artifacts(run_id, str(model_dir), "model")
        saved = json.dumps(record, indent=2, sort_keys=True)
        self.client.log_text(run_id, saved, f"model/{RECORD}")
        if plots.is_dir():
            self.client.log_artifacts(run_id, str(plots), "plots")
        self.client.set_terminated(run_id)
        return run_id

    def _finish(self, version) -> None:
        """Move production to a version whose gate passed, unless that is done already or a
        newer version has been promoted since."""
        if version.tags.get("gate") != PASSED or "promoted_at" in version.tags:
            return
        current = self.aliases().get(PRODUCTION)
        if current is None or current <= int(version.version):
            self._move(int(version.version), "gate", "its gate passed at registration")

    def _move(self, version: int, by: str, reason: str) -> None:
        self.client.set_registered_model_alias(self.name, PRODUCTION, str(version))
        crash_point("aliased")
        why = {"promoted_at": now(), "promoted_by": by, "promote_reason": reason}
        for key, value in why.items():
            self.client.set_model_version_tag(self.name, str(version), key, value)
        history = self._history()
        if not history or history[-1] != version:
            self._set_history([*history, version])

    def _history(self) -> list[int]:
        model = self._registered_model()
        return json.loads(model.tags.get(HISTORY, "[]")) if model else []

    def _set_history(self, history: list[int]) -> None:
        self.client.set_registered_model_tag(self.name, HISTORY, json.dumps(history))


def lineage(record: dict) -> dict[str, str]:
    return {
        "domain": record["domain"],
        "model_hash": record["model_hash"],
        "data_hash": record["data_hash"],
        "git_rev": record["git_rev"] or "unknown",
    }


def flatten(params: dict, prefix: str = "") -> dict:
    """Nested params as MLflow's flat keys: {'train': {'lr': 0.1}} -> {'train.lr': 0.1}."""
    flat = {}
    for key, value in params.items():
        name = mlflow_key(f"{prefix}{key}")
        if isinstance(value, dict) and value:
            flat |= flatten(value, f"{name}.")
        else:
            flat[name] = value
    return flat


def mlflow_key(name: str) -> str:
    """MLflow accepts letters, digits, and _ - . space : / in names; class names may hold more."""
    return "".join(c if c.isalnum() or c in "_-. :/" else "_" for c in str(name))


def open_registry(paths: DomainPaths) -> Registry:
    uri = tracking_uri(paths.root)
    check_reachable(uri)
    embedded = not os.environ.get("MLFLOW_TRACKING_URI")
    if embedded:
        registry_store(paths.root).mkdir(parents=True, exist_ok=True)
    artifacts = (registry_store(paths.root) / "artifacts").as_uri() if embedded else None
    return Registry(paths.domain, uri, paths.registered, artifacts)
