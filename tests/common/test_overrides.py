"""`--set` edits leaf values only, as YAML 1.2, byte for byte elsewhere, validated first."""

import shutil

import pytest

from flows.overrides import apply_overrides
from tasks.common.errors import InputError
from tasks.common.params import load_params
from tests.conftest import REPO


@pytest.fixture
def root(tmp_path):
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    return tmp_path


def changed_lines(root) -> list[tuple[str, str]]:
    before = (REPO / "params.yaml").read_text().split("\n")
    after = (root / "params.yaml").read_text().split("\n")
    assert len(before) == len(after)
    return [(a, b) for a, b in zip(before, after, strict=True) if a != b]


@pytest.mark.parametrize(
    ("override", "key", "value"),
    [
        ("recsys.train.lr=1e-3", ("recsys", "train", "lr"), 0.001),  # YAML 1.1: a string
        ("recsys.train.max_epochs=011", ("recsys", "train", "max_epochs"), 11),  # YAML 1.1: 9
        ("text.ingest.table.separator=';'", ("text", "ingest", "table", "separator"), ";"),
        ("text.ingest.table.header=false", ("text", "ingest", "table", "header"), False),
        ("recsys.model.mlp_layers=[32, 16]", ("recsys", "model", "mlp_layers"), [32, 16]),
        ("recsys.ingest.source=a b, c.csv", ("recsys", "ingest", "source"), "a b, c.csv"),
        ("limits.tries=5", ("limits", "tries"), 5),
    ],
)
def test_a_leaf_changes_and_no_other_byte(root, override, key, value):
    apply_overrides(root, [override])
    node = load_params(root)
    for k in key:
        node = node[k]
    assert node == value
    [(old, new)] = changed_lines(root)
    assert old.split(":")[0] == new.split(":")[0]  # the same key, its comment kept
    if "#" in old:
        assert old[old.index(" #") :] == new[new.index(" #") :]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("recsys.train.lr=fast", "recsys.train.lr should be float"),  # validated, not written
        ("recsys.train=3", "recsys.train is a section: set its keys"),
        ("recsys.train.epoch=3", "recsys.train.epoch is not in params.yaml"),
        ("recsys.ingest.source=@x", "not a YAML value"),
        ("recsys.ingest.source=[x", "not a YAML value"),
        ("recsys.ingest.source=*.csv", "not a YAML value"),
        ("medical.ingest.window.width=wide", "medical.ingest.window.width should be float"),
        ("limits.tries=many", "limits.tries should be int"),
        ("oops", "expected KEY=VALUE"),
        ("recsys.ingest.source=https://me:pw@h/r.csv", "https://\\*\\*\\*@h/r.csv: credentials"),
    ],
)
def test_a_bad_override_is_one_line_and_params_stay_as_they_were(root, override, message):
    before = (root / "params.yaml").read_bytes()
    with pytest.raises(InputError, match=message):
        apply_overrides(root, [override])
    assert (root / "params.yaml").read_bytes() == before
    assert [p.name for p in root.iterdir()] == ["params.yaml"]  # no temporary left behind


def test_several_overrides_land_together_or_not_at_all(root):
    before = (root / "params.yaml").read_bytes()
    with pytest.raises(InputError):
        apply_overrides(root, ["recsys.train.max_epochs=3", "recsys.train.lr=fast"])
    assert (root / "params.yaml").read_bytes() == before
    apply_overrides(root, ["recsys.train.max_epochs=3", "vision.train.max_epochs=2"])
    assert len(changed_lines(root)) == 2


def test_overriding_a_keras_and_a_torch_domain_at_once_does_not_crash(tmp_path):
    """In a fresh process, as `verticals run --set` is: TensorFlow's and torch's modules meet."""
    import subprocess
    import sys

    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    code = (  # together, and one after the other in one process (as bench.quality does)
        "import sys; from pathlib import Path; from flows.overrides import apply_overrides; "
        "apply_overrides(Path(sys.argv[1]), ['medical.train.max_epochs=2', "
        "'text.train.max_epochs=2']); apply_overrides(Path(sys.argv[1]), "
        "['medical.train.patience=2']); apply_overrides(Path(sys.argv[1]), "
        "['text.train.patience=3'])"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True)
    assert proc.returncode == 0, proc.stderr[-500:]
    assert "max_epochs: 2" in (tmp_path / "params.yaml").read_text()
