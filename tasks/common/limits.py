"""Bounds on untrusted input, one params section (`limits`) for every ingest and predict."""

from dataclasses import dataclass
from pathlib import Path

SECTION = "limits"


@dataclass(frozen=True)
class Limits:
    # what a source may be: local paths are "file"; chained URLs (a::b) never are
    protocols: tuple[str, ...] = ("file", "http", "https", "s3", "gs", "az")
    read_timeout: float = 60.0  # seconds a download may go without a byte, then it is retried
    tries: int = 3  # a download resumes where it stopped (HTTP Range) or restarts, this often
    archive_members: int = 100_000
    archive_bytes: int = 20_000_000_000  # uncompressed, all members together
    archive_ratio: float = 200.0  # uncompressed / compressed: more is a zip bomb
    image_pixels: int = 40_000_000  # width x height, read from the header before decoding
    image_aspect: float = 20.0  # long side / short side


def load_limits(root: Path) -> Limits:
    from tasks.common.params import stage_params

    return stage_params(root, Limits, SECTION)


DEFAULT_LIMITS = Limits()  # what params.yaml ships with; callers without a workspace use it
