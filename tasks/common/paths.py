"""The workspace layout, derived in one place.

The workspace is the nearest folder at or above the current directory that holds `dvc.yaml`,
so a copy of the repository (a test's temporary clone, a worker's checkout) is its own workspace.
`dvc.yaml` spells the same layout with `${item}` for the domain; a test keeps the two in step.
"""

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from tasks.common.errors import InputError

STEPS = ("ingest", "preprocess", "train", "evaluate", "register")
OWN_STEPS = STEPS[:-1]  # register is the same for every domain (tasks/common/register.py)
TASKS = Path(__file__).resolve().parents[1]


def discover(tasks: Path = TASKS) -> tuple[str, ...]:
    """A domain is a folder of tasks/ with a module for each of its own stages (beside its
    models/<name>.py and its params.yaml section): see docs/adding-a-domain.md."""
    return tuple(
        sorted(
            folder.name
            for folder in tasks.iterdir()
            if folder.is_dir()
            and folder.name.isidentifier()
            and all((folder / f"{step}.py").is_file() for step in OWN_STEPS)
        )
    )


DOMAINS = discover()


def workspace_root(start: Path | None = None) -> Path:
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "dvc.yaml").is_file():
            return folder
    raise InputError(f"no dvc.yaml at or above {here}: run verticals inside the repository")


def stage_module(domain: str, step: str) -> str:
    """The module whose `run(paths)` is a stage and whose `PARAMS` are the sections it reads:
    register is the same for every domain, the other stages are the domain's own."""
    return "tasks.common.register" if step == "register" else f"tasks.{domain}.{step}"


def registry_store(root: Path) -> Path:
    """The embedded MLflow registry (SQLite and artifacts) when MLFLOW_TRACKING_URI is unset."""
    return root / ".mlflow"


def check_domain(domain: str) -> str:
    if domain not in DOMAINS:
        raise InputError(f"unknown domain {domain!r}; choose from {', '.join(DOMAINS)}")
    return domain


@dataclass(frozen=True)
class DomainPaths:
    root: Path
    domain: str

    @cached_property
    def data(self) -> Path:
        return self.root / "data" / self.domain

    @property
    def raw(self) -> Path:
        return self.data / "raw"

    @property
    def processed(self) -> Path:
        return self.data / "processed"

    @property
    def model(self) -> Path:
        return self.data / "model"

    @property
    def checkpoints(self) -> Path:
        # Not a DVC output: DVC deletes outputs before a stage runs, and a resume needs these.
        return self.data / "checkpoints"

    @property
    def registered(self) -> Path:
        # Registered versions downloaded from the registry for predict: a cache, not an output
        return self.data / "registered"

    @cached_property
    def reports(self) -> Path:
        return self.root / "reports" / self.domain

    @property
    def metrics(self) -> Path:
        return self.reports / "metrics.json"

    @property
    def plots(self) -> Path:
        return self.reports / "plots"

    @property
    def live(self) -> Path:
        return self.reports / "live"

    @property
    def registration(self) -> Path:
        return self.reports / "registration.json"


def domain_paths(domain: str, root: Path | None = None) -> DomainPaths:
    return DomainPaths(root or workspace_root(), check_domain(domain))
