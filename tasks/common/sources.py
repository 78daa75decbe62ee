"""Sources named by a local path or any URL fsspec knows (http, s3, gcs, ...)."""

import fsspec

from tasks.common.errors import InputError


def read_source(source: str) -> bytes:
    try:
        with fsspec.open(source, "rb") as f:
            return f.read()
    except (OSError, ValueError, ImportError) as e:
        raise InputError(f"cannot read {source}: {e}") from e
