"""Zip and tar extraction from a file on disk that never writes outside its target folder and
never unpacks more than `limits` allow (members, uncompressed bytes, compression ratio)."""

import tarfile
import zipfile
from pathlib import Path

from tasks.common.errors import InputError
from tasks.common.limits import DEFAULT_LIMITS, Limits

SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")


def is_archive(name: str) -> bool:
    return name.lower().endswith(SUFFIXES)


def check_member(name: str, target: Path, source: str) -> None:
    resolved = (target / name).resolve()
    if not resolved.is_relative_to(target.resolve()):
        raise InputError(f"{source}: member {name!r} would be written outside the target folder")


def check_totals(count: int, size: int, packed: int, source: str, limits: Limits) -> None:
    if count > limits.archive_members:
        raise InputError(
            f"{source}: more than {limits.archive_members} members (limits.archive_members)"
        )
    if size > limits.archive_bytes:
        raise InputError(
            f"{source}: {size} bytes uncompressed, over limits.archive_bytes "
            f"({limits.archive_bytes})"
        )
    if size > limits.archive_ratio * max(packed, 1):
        raise InputError(
            f"{source}: unpacks to {size / max(packed, 1):.0f}x its size, over "
            f"limits.archive_ratio ({limits.archive_ratio:g}): a zip bomb?"
        )


def extract(path: Path, source: str, target: Path, limits: Limits = DEFAULT_LIMITS) -> None:
    """Every member is checked, and the totals, before anything is written; links are refused."""
    packed = path.stat().st_size
    try:
        if source.lower().endswith(".zip"):
            with zipfile.ZipFile(path) as archive:
                members = archive.infolist()
                check_totals(
                    len(members), sum(m.file_size for m in members), packed, source, limits
                )
                for member in members:
                    check_member(member.filename, target, source)
                archive.extractall(target)
            return
        with tarfile.open(path) as archive:
            count = size = 0
            for member in archive:  # streams the index: a huge one stops at the cap
                count, size = count + 1, size + member.size
                check_totals(count, size, packed, source, limits)
                check_member(member.name, target, source)
                if not (member.isfile() or member.isdir()):
                    raise InputError(f"{source}: member {member.name!r} is a link or device")
            archive.extractall(target, filter="data")  # the stdlib's own guard, as well
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as e:
        raise InputError(f"{source}: not a readable archive ({e})") from e
