"""Zip and tar extraction that never writes outside its target folder."""

import io
import tarfile
import zipfile
from pathlib import Path

from tasks.common.errors import InputError

SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")


def is_archive(name: str) -> bool:
    return name.lower().endswith(SUFFIXES)


def check_member(name: str, target: Path, source: str) -> None:
    resolved = (target / name).resolve()
    if not resolved.is_relative_to(target.resolve()):
        raise InputError(f"{source}: member {name!r} would be written outside the target folder")


def extract(raw: bytes, source: str, target: Path) -> None:
    """Every member is checked before anything is written; links are refused outright."""
    try:
        if source.lower().endswith(".zip"):
            with zipfile.ZipFile(io.BytesIO(raw)) as archive:
                for name in archive.namelist():
                    check_member(name, target, source)
                archive.extractall(target)
            return
        with tarfile.open(fileobj=io.BytesIO(raw)) as archive:
            for member in archive.getmembers():
                check_member(member.name, target, source)
                if not (member.isfile() or member.isdir()):
                    raise InputError(f"{source}: member {member.name!r} is a link or device")
            archive.extractall(target, filter="data")  # the stdlib's own guard, as well
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as e:
        raise InputError(f"{source}: not a readable archive ({e})") from e
