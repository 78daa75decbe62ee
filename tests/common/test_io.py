import pytest

from tasks.common.io import atomic_dir, atomic_path


def test_atomic_path_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_dir_replaces_the_whole_folder_only_on_success(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "a").write_text("old")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "b").write_text("half")
        raise RuntimeError("crash")
    assert sorted(p.name for p in target.iterdir()) == ["a"]
    with atomic_dir(target) as tmp:
        (tmp / "b").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_outputs_are_readable_as_the_umask_allows(tmp_path):
    from tasks.common.io import UMASK

    with atomic_path(tmp_path / "f.txt") as tmp:
        tmp.write_text("x")
    with atomic_dir(tmp_path / "d") as tmp:
        (tmp / "a").write_text("x")
    # mkstemp alone gives 0600 and mkdtemp 0700, whatever the umask
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == 0o666 & ~UMASK
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o777 & ~UMASK


def test_a_folder_left_aside_by_a_kill_between_the_renames_is_put_back(tmp_path):
    target = tmp_path / "model"
    old = tmp_path / ".model.old"
    old.mkdir()
    (old / "a").write_text("old")  # the state a kill between os.replace calls leaves
    with pytest.raises(RuntimeError), atomic_dir(target):
        raise RuntimeError("crash")
    assert (target / "a").read_text() == "old" and not old.exists()
