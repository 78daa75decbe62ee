"""Bad input through the real drivers: one clear line, a non-zero exit, nothing lost.

Each domain is reproduced once; then every case points its ingest at a bad source and runs
`dvc repro` and the stage command. dvc.lock, the model and the registry must not change.
"""

import hashlib

import numpy as np
import pytest
from PIL import Image

from flows.overrides import apply_overrides
from tasks.common.paths import domain_paths
from tests.conftest import TINY, make_workspace, sh
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


SPLIT = {
    f"{s}_{k}": v
    for s in ("train", "val", "test")
    for k, v in (("images", np.zeros((2, 8, 8), np.uint8)), ("labels", np.array([0, 1])))
}
CASES = [
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
    ("medical", "ingest", npz(images=np.zeros((2, 8, 8))), "bad.npz: missing key(s) train_images"),
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
]


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def state(ws, domain) -> tuple:
    paths = domain_paths(domain, ws)
    trees = [paths.model, paths.registry]
    return digest(ws / "dvc.lock"), [
        {str(p): digest(p) for p in sorted(t.rglob("*")) if p.is_file()} for t in trees
    ]


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory):
    """One reproduced clone per domain, shared by that domain's cases."""
    clones = {}

    def get(domain):
        if domain not in clones:
            ws = make_workspace(tmp_path_factory.mktemp(domain), TINY)
            sh("dvc", "repro", f"register@{domain}", cwd=ws)
            clones[domain] = ws
        return clones[domain]

    return get


@pytest.mark.parametrize(
    ("domain", "step", "write", "message"), CASES, ids=[f"{c[0]}-{c[3][:40]}" for c in CASES]
)
def test_bad_input_fails_in_one_line_and_keeps_lock_model_and_registry(
    reproduced, tmp_path, domain, step, write, message
):
    ws = reproduced(domain)
    before = state(ws, domain)
    apply_overrides(ws, [f"{domain}.ingest.source={write(tmp_path)}"])
    try:
        proc = sh("dvc", "repro", f"register@{domain}", cwd=ws, check=False)
        assert proc.returncode != 0
        assert message in proc.stdout + proc.stderr
        direct = sh("verticals", "stage", domain, step, cwd=ws, check=False)
        assert direct.returncode == 2
        [line] = direct.stderr.strip().splitlines()
        assert line.startswith("error: ") and message in line
        assert state(ws, domain) == before
        assert not [p for p in (ws / "data").rglob("*") if p.name.endswith(".tmp")]
    finally:
        apply_overrides(ws, [f"{domain}.ingest.source=default"])
