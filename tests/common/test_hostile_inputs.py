"""Odd and hostile inputs (issue: no silent wrong answers): each is read right, or refused in
one line that names it."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from tasks.common.errors import InputError
from tasks.common.images import decode_image, to_uint8
from tasks.common.splits import assign_splits
from tasks.medical.ingest import IngestParams, load, read_npz
from tasks.medical.preprocess import PreprocessParams


@pytest.mark.parametrize(
    ("pixels", "expected"),
    [
        (np.array([0, 128, 255], np.uint8), [0, 128, 255]),
        (np.array([0.0, 0.5, 1.0], np.float32), [0, 128, 255]),  # was cast to zeros
        (np.array([0.0, 127.6, 255.0]), [0, 128, 255]),
        (np.array([0, 200, 255], np.uint16), [0, 200, 255]),
        (np.array([False, True]), [0, 255]),
    ],
)
def test_pixels_of_any_dtype_keep_their_meaning(pixels, expected):
    assert to_uint8(pixels, "x").tolist() == expected


@pytest.mark.parametrize(
    ("pixels", "message"),
    [
        (np.array([0, 4000], np.uint16), "uint16 pixel values from 0 to 4000"),  # wrapped to 160
        (np.array([-1.0, 0.5]), "float64 pixel values from -1.0 to 0.5"),
        (np.array([0.1, np.nan]), "NaN or infinite"),
        (np.array([1 + 1j]), "not real numbers"),
    ],
)
def test_pixels_that_do_not_fit_8_bits_are_refused(pixels, message):
    with pytest.raises(InputError, match=message):
        to_uint8(pixels, "scans.npz train_images")


def test_16_bit_pngs_are_scaled_not_clipped(tmp_path):
    values = np.array([[0, 1000, 30000, 65535]], np.uint16)
    Image.fromarray(values).save(tmp_path / "wide.png")  # a 16-bit grayscale PNG
    assert decode_image(tmp_path / "wide.png", "L").tolist() == [[0, 4, 117, 255]]
    assert decode_image(tmp_path / "wide.png", "RGB")[0, 2].tolist() == [117] * 3


def test_a_decompression_bomb_is_one_line(tmp_path):
    Image.new("L", (Image.MAX_IMAGE_PIXELS // 1000 * 3, 1000)).save(tmp_path / "bomb.png")
    with pytest.raises(InputError, match="bomb.png: not a readable image .DecompressionBombError"):
        decode_image(tmp_path / "bomb.png", "L")


def npz(tmp_path, **arrays) -> str:
    path = tmp_path / "scans.npz"
    base = {f"{s}_{k}": np.zeros((2, 4, 4) if k == "images" else (2, 1), np.uint8)
            for s in ("train", "val", "test") for k in ("images", "labels")}  # fmt: skip
    np.savez(path, **{**base, **arrays})
    return str(path)


def test_npz_object_arrays_are_refused_by_name_without_unpickling(tmp_path):
    source = npz(tmp_path, train_images=np.array([object(), 1], dtype=object))
    with pytest.raises(InputError, match="array 'train_images' cannot be read: Object arrays"):
        read_npz(source)


def test_npz_float_scans_in_0_1_are_not_blank(tmp_path):
    source = npz(tmp_path, train_images=np.full((2, 4, 4), 0.5, np.float32))
    scans = read_npz(source)
    assert scans.images[0].max() == 128


def test_a_partial_or_unknown_split_column_is_refused(tmp_path):
    p = PreprocessParams()
    labels = [0, 1] * 10
    with pytest.raises(InputError, match="labels.csv: row 2 has no split and others do"):
        assign_splits(labels, ["train", None] * 10, p, "labels.csv")
    folder = tmp_path / "dicom"
    folder.mkdir()
    from tests.medical.test_ingest import write_dicom

    for name in ("a.dcm", "b.dcm"):
        write_dicom(folder / name, np.full((8, 8), 500))
    (folder / "labels.csv").write_text("file,label,split\na.dcm,0,train\nb.dcm,1,Test\n")
    with pytest.raises(InputError, match="labels.csv: row 2: split 'Test' is not train, val"):
        list(load(IngestParams(source=str(folder))))


def test_a_class_too_small_to_split_is_named():
    p = PreprocessParams()
    with pytest.raises(InputError, match="scans: class 1 has 2 example.s.: too few"):
        assign_splits([0] * 50 + [1] * 2, [None] * 52, p, "scans")


def test_quoted_tsv_fields_hold_tabs_and_doubled_quotes(tmp_path):
    from tasks.text.ingest import TableFormat, read_table

    (tmp_path / "t.tsv").write_text('text\tlabel\n"a\tb ""c"""\tx\nplain "quote\ty\n')
    frame = read_table(str(tmp_path / "t.tsv"), TableFormat())
    assert frame.text.tolist() == ['a\tb "c"', 'plain "quote']
    (tmp_path / "raw.tsv").write_text('text\tlabel\n"quoted" start\ty\n')
    raw = read_table(str(tmp_path / "raw.tsv"), TableFormat(quoting="none"))
    assert raw.text.tolist() == ['"quoted" start']  # quotes as text, for raw dumps


def test_recsys_negatives_below_one_are_refused():
    from tasks.recsys.preprocess import PreprocessParams as RecsysParams
    from tasks.recsys.preprocess import split

    frame = pd.DataFrame({"user": [1, 1, 2, 2], "item": [1, 2, 1, 3], "rating": 5.0,
                          "timestamp": [1, 2, 3, 4]})  # fmt: skip
    with pytest.raises(InputError, match="recsys.preprocess.negatives is 0"):
        split(frame, RecsysParams(negatives=0))


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("memory://x.csv", "protocol 'memory' is not allowed; limits.protocols allows file"),
        ("github://o:r@main/x.csv", "protocol 'github' is not allowed"),
        ("simplecache::https://h/x.csv", "chained URLs"),
        ("https://user:token@h/x.csv", "https://\\*\\*\\*@h/x.csv: credentials in a source URL"),
        ("https://h/x.csv?X-Amz-Signature=abc&a=1", "X-Amz-Signature=\\*\\*\\*&a=1: credentials"),
    ],
)
def test_sources_outside_the_allowed_protocols_or_with_credentials_are_refused(source, message):
    from tasks.common.sources import read_source

    with pytest.raises(InputError, match=message) as caught:
        read_source(source)
    assert "token" not in str(caught.value) and "abc" not in str(caught.value)


@pytest.fixture
def stalling_http(tmp_path):
    """Serves 1 MB: the first answer sends half, then stalls; later ones honour Range."""
    import http.server
    import threading
    import time

    body = bytes(range(256)) * 4096
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            start = int(self.headers.get("Range", "bytes=0-")[6:].rstrip("-") or 0)
            seen.append(start)
            self.send_response(206 if start else 200)
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            if len(seen) == 1:
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                time.sleep(3)  # longer than the read timeout
                return
            self.wfile.write(body[start:])

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/data.bin", body, seen
    server.shutdown()


def test_a_stalled_download_times_out_and_resumes_where_it_stopped(stalling_http):
    from tasks.common.limits import Limits
    from tasks.common.sources import read_source

    url, body, seen = stalling_http
    assert read_source(url, Limits(read_timeout=1.0)) == body
    assert seen == [0, len(body) // 2]  # the second request asked only for the rest


def zip_of(tmp_path, members: dict[str, bytes]):
    import zipfile

    path = tmp_path / "set.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


@pytest.mark.parametrize(
    ("members", "limits", "message"),
    [
        ({f"{i}.png": b"x" for i in range(5)}, {"archive_members": 4}, "more than 4 members"),
        ({"a.bin": b"x" * 5000}, {"archive_bytes": 4000}, "5000 bytes uncompressed, over"),
        ({"bomb.bin": bytes(2_000_000)}, {}, "unpacks to .*x its size, over limits.archive_ratio"),
    ],
)
def test_archives_over_their_limits_are_refused_before_anything_is_written(
    tmp_path, members, limits, message
):
    from tasks.common.archives import extract
    from tasks.common.limits import Limits

    path = zip_of(tmp_path, members)
    target = tmp_path / "out"
    target.mkdir()
    with pytest.raises(InputError, match=message):
        extract(path, "set.zip", target, Limits(**limits))
    assert not any(target.iterdir())


def test_an_elongated_image_is_refused_from_its_header(tmp_path):
    """1 x 2,000,000 pixels is a 2 KB PNG, and resizing its short side would take gigabytes."""
    from tasks.vision.ingest import problem

    Image.new("L", (2_000_000, 1)).save(tmp_path / "line.png")
    assert (tmp_path / "line.png").stat().st_size < 10_000
    assert "more elongated than limits.image_aspect" in problem(tmp_path / "line.png", ("PNG",))
    with pytest.raises(InputError, match="line.png: 2000000x1 pixels, more elongated"):
        decode_image(tmp_path / "line.png", "L")


def test_file_names_that_are_not_utf8_reach_the_table_escaped(tmp_path):
    import os

    from tasks.medical.ingest import write

    for cls in ("negative", "positive"):
        (tmp_path / cls).mkdir()
        name = os.fsdecode(b"caf\xe9-" + cls.encode() + b".png")  # a Latin-1 name on Linux
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / cls / name)
    [scans] = load(IngestParams(source=str(tmp_path)))
    assert scans.ids == ["negative/caf\\xe9-negative.png", "positive/caf\\xe9-positive.png"]
    labels = write([scans], tmp_path / "s.parquet", str(tmp_path))  # was a UnicodeEncodeError
    assert len(labels) == 2


def test_http_credentials_come_from_netrc_not_the_url(tmp_path, monkeypatch):
    import base64
    import http.server
    import threading

    from tasks.common.sources import read_source

    token = base64.b64encode(b"me:s3cret").decode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            ok = self.headers.get("Authorization") == f"Basic {token}"
            self.send_response(200 if ok else 401)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok" if ok else b"no")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/r.csv"
    try:
        with pytest.raises(InputError, match="HTTP 401"):
            read_source(url)
        (tmp_path / "netrc").write_text("machine 127.0.0.1 login me password s3cret\n")
        (tmp_path / "netrc").chmod(0o600)
        monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
        assert read_source(url) == b"ok"
    finally:
        server.shutdown()
