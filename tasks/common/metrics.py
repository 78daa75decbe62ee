"""The metrics file every evaluate stage writes: flat JSON, floats rounded, counts kept whole,
and words (why training stopped) as they are."""

from numbers import Integral, Real

from tasks.common.io import write_json
from tasks.common.paths import DomainPaths
from tasks.common.training import read_summary


def write_metrics(paths: DomainPaths, metrics: dict[str, Real | str]) -> None:
    """The evaluation's metrics, then the training summary (best epoch, why it stopped)."""
    combined = {**metrics, **read_summary(paths.model)}
    write_json(paths.metrics, {k: _rounded(v) for k, v in combined.items()})


def _rounded(value: Real | str) -> int | float | str:
    if isinstance(value, str):
        return value
    return int(value) if isinstance(value, Integral) else round(float(value), 6)


def describe(metrics: dict[str, Real | str]) -> str:
    """The measured values (not counts or words), for one line of a log or a table."""
    return " ".join(
        f"{k}={v:.4f}"
        for k, v in metrics.items()
        if isinstance(v, Real) and not isinstance(v, Integral)
    )
