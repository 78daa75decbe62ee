import io
import tarfile
import zipfile

import pytest

from tasks.common.errors import InputError
from tasks.vision.ingest import IngestParams, check, gather
from tests.vision.conftest import png


def items_of(tmp_path, source, **kw):
    params = IngestParams(source=str(source), **kw)
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    return check(gather(params, scratch), params, str(source))


def test_the_default_is_sklearn_digits_as_pngs(tmp_path):
    items, skipped = items_of(tmp_path, "default")
    assert len(items) == 1797 and not skipped
    assert sorted({i.label for i in items}) == [str(d) for d in range(10)]
    assert all(i.path.suffix == ".png" for i in items)


def test_image_folders_with_and_without_splits(tmp_path):
    for split in ("train", "val"):
        for cls in ("cat", "dog"):
            png(tmp_path / "split" / split / cls / "a.png")
            png(tmp_path / "flat" / cls / f"{split}.jpg", fmt="JPEG")
    items, _ = items_of(tmp_path, tmp_path / "split")
    assert sorted((i.split, i.label) for i in items) == [
        ("train", "cat"), ("train", "dog"), ("val", "cat"), ("val", "dog")
    ]  # fmt: skip
    items, _ = items_of(tmp_path, tmp_path / "flat")
    assert {i.split for i in items} == {None} and len(items) == 4


def test_a_csv_of_paths_and_labels(tmp_path):
    png(tmp_path / "img" / "1.png"), png(tmp_path / "img" / "2.png")
    (tmp_path / "list.csv").write_text("path,label\nimg/1.png,a\nimg/2.png,b\n")
    items, _ = items_of(tmp_path, tmp_path / "list.csv")
    assert [i.label for i in items] == ["a", "b"]
    (tmp_path / "bad.csv").write_text("path,label\nimg/1.png,a\nimg/9.png,b\n")
    with pytest.raises(InputError, match="bad.csv: row 2: file img/9.png does not exist"):
        items_of(tmp_path, tmp_path / "bad.csv")


def zip_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buffer.getvalue()


def test_an_archive_from_a_url_is_extracted(http_folder, tmp_path):
    folder, url = http_folder
    pngs = {
        f"digits/{c}/{i}.png": png(tmp_path / f"{c}{i}.png").read_bytes()
        for c in "ab"
        for i in "12"
    }
    (folder / "set.zip").write_bytes(zip_of(pngs))
    items, _ = items_of(tmp_path, f"{url}/set.zip")
    assert sorted(i.label for i in items) == ["a", "a", "b", "b"]


def test_archive_members_outside_the_target_are_refused(tmp_path):
    (tmp_path / "evil.zip").write_bytes(zip_of({"a/1.png": b"x", "../../escaped.png": b"x"}))
    with pytest.raises(InputError, match=r"evil.zip: member '../../escaped.png' would be written"):
        items_of(tmp_path, tmp_path / "evil.zip")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        link = tarfile.TarInfo("a/link.png")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    (tmp_path / "evil.tgz").write_bytes(buffer.getvalue())
    with pytest.raises(InputError, match=r"evil.tgz: member 'a/link.png' is a link"):
        items_of(tmp_path, tmp_path / "evil.tgz")
    assert not (tmp_path.parent / "escaped.png").exists()
    assert not list((tmp_path / "scratch").rglob("*"))  # checked before anything was written


def test_bad_files_fail_or_are_skipped_and_named(tmp_path):
    for i in range(3):
        png(tmp_path / "set" / "a" / f"{i}.png"), png(tmp_path / "set" / "b" / f"{i}.png")
    png(tmp_path / "set" / "a" / "anim.gif", fmt="GIF")
    jpeg = png(tmp_path / "x.jpg", size=64, fmt="JPEG").read_bytes()
    (tmp_path / "set" / "b" / "cut.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    with pytest.raises(InputError, match=r"a/anim.gif: a GIF image, not JPEG or PNG"):
        items_of(tmp_path, tmp_path / "set")
    items, skipped = items_of(tmp_path, tmp_path / "set", bad_files="skip")
    assert len(items) == 6
    assert {k.rsplit("/", 2)[-2] + "/" + k.rsplit("/", 1)[-1] for k in skipped} == {
        "a/anim.gif",
        "b/cut.jpg",
    }
    assert "not a readable image" in skipped[str(tmp_path / "set" / "b" / "cut.jpg")]


def test_empty_and_single_class_sources_are_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="empty: no images"):
        items_of(tmp_path, tmp_path / "empty")
    png(tmp_path / "one" / "cat" / "1.png"), png(tmp_path / "one" / "cat" / "2.png")
    with pytest.raises(InputError, match="every image is in class 'cat'"):
        items_of(tmp_path, tmp_path / "one")
