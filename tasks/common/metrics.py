"""The metrics file every evaluate stage writes: flat JSON, floats rounded, counts kept whole."""

from numbers import Integral, Real
from pathlib import Path

from tasks.common.io import write_json


def write_metrics(path: Path, metrics: dict[str, Real]) -> None:
    write_json(
        path,
        {k: int(v) if isinstance(v, Integral) else round(float(v), 6) for k, v in metrics.items()},
    )


def describe(metrics: dict[str, Real]) -> str:
    return " ".join(f"{k}={v:.4f}" for k, v in metrics.items() if not isinstance(v, Integral))
