"""Property tests on the readers: whatever the input, a result or one InputError line, never
a traceback or a hang."""

import io
import os
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays, scalar_dtypes

from tasks.common.errors import InputError
from tasks.common.images import decode_image

EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", 60))  # more for a deeper search
SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
cells = st.one_of(
    st.integers(-5, 10**6).map(str),
    st.floats(allow_nan=True).map(str),
    st.text(max_size=12),
    st.just(""),
)


def outcome(read, data: bytes, suffix: str):
    """Write `data` to a file and read it: the reader's result, or the InputError."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"input{suffix}"
        path.write_bytes(data)
        try:
            return read(path)
        except InputError as e:
            assert "\n" not in str(e)  # one line
            return e


def csv_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    import csv

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


@SETTINGS
@given(
    header=st.lists(st.sampled_from(["user", "item", "rating", "timestamp", "x"]), max_size=5),
    rows=st.lists(st.lists(cells, min_size=0, max_size=5), max_size=8),
)
def test_recsys_tables(header, rows):
    from tasks.recsys.ingest import IngestParams, load

    outcome(lambda p: load(IngestParams(source=str(p))), csv_bytes(header, rows), ".csv")


@SETTINGS
@given(
    header=st.lists(st.sampled_from(["text", "label", "x"]), max_size=3),
    rows=st.lists(st.lists(cells, min_size=0, max_size=3), max_size=8),
    fmt=st.sampled_from([".csv", ".tsv", ".jsonl"]),
)
def test_text_tables(header, rows, fmt):
    from tasks.text.ingest import IngestParams, load

    data = csv_bytes(header, rows)
    if fmt == ".tsv":
        data = data.replace(b",", b"\t")
    outcome(lambda p: load(IngestParams(source=str(p))), data, fmt)


@SETTINGS
@given(
    data=st.binary(max_size=400), prefix=st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8"])
)
def test_image_bytes(data, prefix):
    result = outcome(lambda p: decode_image(p, "L"), prefix + data, ".png")
    assert isinstance(result, InputError | np.ndarray)


@SETTINGS
@given(
    images=arrays(scalar_dtypes(), array_shapes(min_dims=1, max_dims=4, max_side=4)),
    labels=arrays(scalar_dtypes(), array_shapes(max_dims=2, max_side=4)),
)
def test_npz_arrays(images, labels):
    from tasks.medical.ingest import read_npz

    def write_and_read(path: Path):
        arrays = {f"{s}_images": images for s in ("train", "val", "test")}
        arrays |= {f"{s}_labels": labels for s in ("train", "val", "test")}
        with path.open("wb") as f:
            np.savez(f, **arrays)
        return read_npz(str(path))

    outcome(write_and_read, b"", ".npz")
