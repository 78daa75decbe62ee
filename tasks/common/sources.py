"""Sources named by a local path or a URL: the protocol allowed, no credentials inside, and
remote ones streamed to a local file with an idle timeout, resumed or restarted on failure."""

import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from tasks.common.errors import InputError
from tasks.common.limits import DEFAULT_LIMITS, Limits

# query keys that carry a secret: signed S3/GCS URLs, Azure SAS, tokens
SECRET_KEYS = {"x-amz-signature", "x-amz-credential", "x-amz-security-token", "x-goog-signature",
               "x-goog-credential", "sig", "signature", "token", "access_token", "api_key",
               "apikey", "password", "secret"}  # fmt: skip
CHUNK = 1 << 20
HINT = "pass credentials through the environment or fsspec's config (README: Credentials)"


def redact(text: str) -> str:
    """Any user:password@ and secret query values in `text`, starred out."""
    text = re.sub(r"(?<=://)[^/@\s]+@", "***@", text)
    return re.sub(
        r"(?i)([?&](?:" + "|".join(map(re.escape, SECRET_KEYS)) + r")=)[^&\s]+", r"\1***", text
    )


def protocol(source: str) -> str:
    if "::" in source:
        raise InputError(f"{redact(source)}: chained URLs (a::b) are not allowed as a source")
    return urlsplit(source).scheme.lower() if "://" in source else "file"


def check_source(source: str, limits: Limits) -> str:
    """The source's protocol; refuses those not allowed, and credentials that params.yaml,
    dvc.lock, the registry and the logs would otherwise keep in the clear."""
    found = protocol(source)
    if found not in limits.protocols:
        raise InputError(
            f"{redact(source)}: protocol {found!r} is not allowed; "
            f"limits.protocols allows {', '.join(limits.protocols)}"
        )
    parts = urlsplit(source)
    secrets = [k for k, _ in parse_qsl(parts.query) if k.lower() in SECRET_KEYS]
    if "://" in source and (parts.username or parts.password or secrets):
        raise InputError(
            f"{redact(source)}: credentials in a source URL would be written to params.yaml "
            f"and dvc.lock; {HINT}"
        )
    return found


@contextmanager
def fetched(source: str, limits: Limits = DEFAULT_LIMITS) -> Iterator[Path]:
    """A local file with the source's bytes: the path itself, or a streamed download."""
    if check_source(source, limits) == "file":
        path = Path(source.removeprefix("file://"))
        if not path.is_file():
            raise InputError(f"cannot read {source}: no such file")
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="verticals-download-") as scratch:
        dest = Path(scratch) / "source"
        if protocol(source) in ("http", "https"):
            download_http(source, dest, limits)
        else:
            copy_fsspec(source, dest)
        yield dest


def read_source(source: str, limits: Limits = DEFAULT_LIMITS) -> bytes:
    with fetched(source, limits) as path:
        return path.read_bytes()


def download_http(url: str, dest: Path, limits: Limits) -> None:
    """Stream to `dest`; a stalled or broken transfer resumes with a Range request when the
    server supports it, and restarts when not. Client errors (404, 403) are final."""
    import httpx

    timeout = httpx.Timeout(30.0, read=limits.read_timeout)
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    auth = httpx.NetRCAuth(str(netrc)) if netrc.is_file() else None  # credentials, not in URLs
    why = ""
    for attempt in range(limits.tries):
        have = dest.stat().st_size if dest.exists() else 0
        # identity: byte ranges of the file itself, not of a compressed stream
        headers = {"Accept-Encoding": "identity", **({"Range": f"bytes={have}-"} if have else {})}
        try:
            with httpx.stream(
                "GET", url, headers=headers, timeout=timeout, follow_redirects=True, auth=auth
            ) as response:
                if response.status_code == 416:  # nothing left to send: it is all here
                    return
                response.raise_for_status()
                mode = "ab" if response.status_code == 206 else "wb"
                with dest.open(mode) as f:
                    for chunk in response.iter_raw():  # as it arrives: a stall keeps it
                        f.write(chunk)
            return
        except httpx.HTTPStatusError as e:
            why = f"HTTP {e.response.status_code}"
            if e.response.status_code < 500 and e.response.status_code not in (408, 429):
                break
        except httpx.HTTPError as e:
            why = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        if attempt + 1 < limits.tries:
            time.sleep(2**attempt)
    raise InputError(f"cannot read {redact(url)}: {why} (after {attempt + 1} tries)")


def copy_fsspec(source: str, dest: Path) -> None:
    import fsspec

    try:
        with fsspec.open(source, "rb") as src, dest.open("wb") as out:
            shutil.copyfileobj(src, out, CHUNK)
    except (OSError, ValueError, ImportError) as e:
        raise InputError(f"cannot read {redact(source)}: {redact(str(e))}") from e


def expand(source: str) -> list[str]:
    """A local glob pattern (`data/*.csv`) as its files in name order; anything else as is."""
    if "://" in source or not any(c in source for c in "*?["):
        return [source]
    import glob

    matches = sorted(glob.glob(source))
    if not matches:
        raise InputError(f"{source}: the pattern matches no file")
    return matches
