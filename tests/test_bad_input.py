"""Bad input through the real drivers: one clear line, a non-zero exit, nothing lost.

Each domain is reproduced once; then every case points its ingest at a bad source and runs
`dvc repro` and the stage command. dvc.lock, the model and the registry must not change.
"""

import hashlib
import io
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
from PIL import Image

from tasks.common.params import PARAMS_FILE
from tasks.common.paths import domain_paths, registry_store
from tests.conftest import sh
from tests.medical.test_ingest import write_dicom

pytestmark = pytest.mark.slow


def text(content: str, name: str = "bad.csv"):
    def write(folder):
        (folder / name).write_text(content)
        return folder / name

    return write


def npz(**arrays):
    def write(folder):
        np.savez(folder / "bad.npz", **arrays)
        return folder / "bad.npz"

    return write


def image_folder(classes=("negative", "positive"), corrupt=False):
    def write(folder):
        for cls in classes:
            (folder / "scans" / cls).mkdir(parents=True)
            for i in range(6):
                Image.fromarray(np.full((16, 16), 30 * i, np.uint8)).save(
                    folder / "scans" / cls / f"{i}.png"
                )
        if corrupt:
            (folder / "scans" / "positive" / "3.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
        return folder / "scans"

    return write


def dicom_folder(labels: str, pixels=True):
    def write(folder):
        root = folder / "dicom"
        root.mkdir()
        write_dicom(root / "a.dcm", np.zeros((8, 8)), pixels=pixels)
        (root / "labels.csv").write_text(labels)
        return root

    return write


def missing(folder):
    return folder / "nowhere.csv"


def raw_bytes(content: bytes, name: str = "bad.csv"):
    def write(folder):
        (folder / name).write_bytes(content)
        return folder / name

    return write


def encoded(fmt: str, size: int = 32) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((size, size, 3), 90, np.uint8)).save(buffer, format=fmt)
    return buffer.getvalue()


PNG, JPEG, GIF = encoded("PNG"), encoded("JPEG", 64), encoded("GIF")
LINE = io.BytesIO()
Image.new("L", (2_000_000, 1)).save(LINE, format="PNG")  # 2 KB, gigabytes once resized
TWO_CLASSES = {"a/1.png": PNG, "b/1.png": PNG}


def vision_folder(files: dict[str, bytes]):
    def write(folder):
        root = folder / "set"
        root.mkdir()
        for name, data in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(data)
        return root

    return write


def evil_zip(folder):
    with zipfile.ZipFile(folder / "evil.zip", "w") as z:
        z.writestr("a/1.png", PNG)
        z.writestr("../escaped.png", PNG)
    return folder / "evil.zip"


def bomb_zip(folder):
    with zipfile.ZipFile(folder / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a/1.png", PNG)
        z.writestr("b/1.png", PNG)
        z.writestr("b/zeros.png", bytes(20_000_000))
    return folder / "bomb.zip"


def constant(value: str):
    return lambda folder: value


def resnet50_checkpoint(folder):
    import torch
    from torchvision.models import resnet50

    torch.save(resnet50(weights=None).state_dict(), folder / "r50.pt")
    return folder / "r50.pt"


class Case(NamedTuple):
    domain: str
    step: str  # the stage that must refuse it
    write: Callable[[Path], Path]  # writes the bad source into a folder; returns the param value
    message: str
    param: str = "ingest.source"  # the domain's param that points at it


SPLIT = {
    f"{s}_{k}": v
    for s in ("train", "val", "test")
    for k, v in (("images", np.zeros((2, 8, 8), np.uint8)), ("labels", np.array([0, 1])))
}
CASES = [
    Case(*case)
    for case in [
        (
            "recsys",
            "ingest",
            text("user,item,timestamp\n1,2,3\n"),
            "bad.csv: missing column(s) 'rating'",
        ),
        (
            "recsys",
            "ingest",
            text("user,item,rating,timestamp\n1,2,5,3\n1,3,x,4\n"),
            "bad.csv: row 2: rating 'x' is not a number",
        ),
        ("recsys", "ingest", text(""), "bad.csv: the file is empty"),
        ("recsys", "ingest", missing, "cannot read"),
        (
            "medical",
            "ingest",
            npz(images=np.zeros((2, 8, 8))),
            "bad.npz: missing key(s) train_images",
        ),
        (
            "medical",
            "ingest",
            npz(**{**SPLIT, "test_labels": np.array([0, 3])}),
            "bad.npz test_labels: row 2: label 3 is not 0 or 1",
        ),
        ("medical", "ingest", image_folder(corrupt=True), "positive/3.png: not a readable image"),
        (
            "medical",
            "ingest",
            dicom_folder("file,label\na.dcm,0\nb.dcm,1\n"),
            "row 2: file b.dcm does not exist",
        ),
        (
            "medical",
            "ingest",
            dicom_folder("file,label\na.dcm,0\n", pixels=False),
            "a.dcm: DICOM file has no pixel data",
        ),
        ("medical", "ingest", image_folder(classes=("negative",)), "scans: every scan has label 0"),
        ("text", "ingest", text("body,label\nhi,a\n"), "bad.csv: missing column(s) 'text'"),
        ("text", "ingest", text("text,label\nhi,a\n,b\n"), "bad.csv: row 2: empty text"),
        ("text", "ingest", text("text,label\nhi,a\nyo,a\n"), "bad.csv: every row has label 'a'"),
        (
            "text",
            "ingest",
            raw_bytes(b"text,label\nhi,a\nh\xe9,b\n"),
            "bad.csv: row 2 (line 3): byte 0xe9 is not UTF-8",
        ),
        (
            "text",
            "preprocess",
            missing,
            "text.model.name_or_path",
            "model.name_or_path",
        ),
        ("vision", "ingest", vision_folder({}), "set: no images"),
        ("vision", "ingest", vision_folder({"cat/1.png": PNG}), "every image is in class"),
        (
            "vision",
            "ingest",
            vision_folder(TWO_CLASSES | {"b/2.jpg": JPEG[:300]}),
            "b/2.jpg: not a readable",
        ),
        (
            "vision",
            "ingest",
            vision_folder(TWO_CLASSES | {"b/2.gif": GIF}),
            "b/2.gif: a GIF image, not JPEG",
        ),
        ("vision", "ingest", evil_zip, "member '../escaped.png' would be written outside"),
        ("vision", "ingest", bomb_zip, "over limits.archive_ratio (200): a zip bomb?"),
        (
            "vision",
            "ingest",
            vision_folder(TWO_CLASSES | {"b/2.png": LINE.getvalue()}),
            "b/2.png: 2000000x1 pixels, more elongated than limits.image_aspect",
        ),
        (
            "medical",
            "ingest",
            npz(**{**SPLIT, "train_images": np.full((2, 8, 8), 4000, np.uint16)}),
            "bad.npz train_images: uint16 pixel values from 4000 to 4000 fit neither",
        ),
        ("recsys", "ingest", constant("memory://r.csv"), "protocol 'memory' is not allowed"),
        (
            "recsys",
            "ingest",
            constant("https://me:secret@127.0.0.1:9/r.csv"),
            "https://***@127.0.0.1:9/r.csv: credentials in a source URL",
        ),
        ("vision", "train", constant("vgg16"), "'vgg16' is unknown", "model.architecture"),
        ("vision", "train", constant("IMAGENET9K"), "'IMAGENET9K' is not a", "model.weights"),
        ("vision", "train", resnet50_checkpoint, "r50.pt: layer1.0.conv1.weight", "model.weights"),
    ]
]


def edit_by_hand(ws, dotted: str, value: object) -> None:
    """As a user with an editor (or `dvc exp run -S`) would: no --set validation first."""
    from ruamel.yaml import YAML

    yaml = YAML()
    doc = yaml.load((ws / PARAMS_FILE).read_text())
    *parents, leaf = dotted.split(".")
    node = doc
    for key in parents:
        node = node[key]
    node[leaf] = value
    with (ws / PARAMS_FILE).open("w") as f:
        yaml.dump(doc, f)


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def state(ws, domain) -> tuple:
    paths = domain_paths(domain, ws)
    trees = [paths.model, registry_store(ws)]
    return digest(ws / "dvc.lock"), [
        {str(p): digest(p) for p in sorted(t.rglob("*")) if p.is_file()} for t in trees
    ]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.domain}-{c.message[:40]}" for c in CASES])
def test_bad_input_fails_in_one_line_and_keeps_lock_model_and_registry(reproduced, tmp_path, case):
    domain, step, message = case.domain, case.step, case.message
    ws = reproduced
    before = state(ws, domain)
    params = (ws / PARAMS_FILE).read_text()
    edit_by_hand(ws, f"{domain}.{case.param}", str(case.write(tmp_path)))
    try:
        proc = sh("dvc", "repro", f"register@{domain}", cwd=ws, check=False)
        assert proc.returncode != 0
        assert message in proc.stdout + proc.stderr
        assert "secret" not in proc.stdout + proc.stderr  # credentials are never echoed
        direct = sh("verticals", "stage", domain, step, cwd=ws, check=False)
        assert direct.returncode == 2
        [line] = direct.stderr.strip().splitlines()
        assert line.startswith("error: ") and message in line
        assert state(ws, domain) == before
        assert not [p for p in (ws / "data").rglob("*") if p.name.endswith(".tmp")]
    finally:  # put the shared clone back: DVC removed the failed stage's outputs first
        (ws / PARAMS_FILE).write_text(params)
        sh("dvc", "checkout", cwd=ws)


@pytest.mark.parametrize(
    ("dotted", "value"), [("recsys.train.patience", 0), ("vision.train.max_epochs", -1)]
)
def test_stopping_params_below_one_are_named_and_nothing_is_written(reproduced, dotted, value):
    ws = reproduced
    domain = dotted.split(".")[0]
    before = state(ws, domain)
    params = (ws / PARAMS_FILE).read_text()
    edit_by_hand(ws, dotted, value)
    try:
        direct = sh("verticals", "stage", domain, "train", cwd=ws, check=False)
        assert direct.returncode == 2
        [line] = direct.stderr.strip().splitlines()
        assert line == f"error: params.yaml: {dotted} is {value}; it must be at least 1"
        assert state(ws, domain) == before
    finally:
        (ws / PARAMS_FILE).write_text(params)
