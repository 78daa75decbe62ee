"""The DVC remote a run pulls from before its stages and pushes to after them.

Workers in separate clones share one remote: what one trained, another pulls instead of
training again. `register` is never pulled: each clone registers into its own registry.
"""

from pathlib import Path

from tasks.common.errors import InputError
from tasks.common.paths import STEPS

PULLED = tuple(step for step in STEPS if step != "register")


def default_remote(root: Path) -> tuple[str, str]:
    """The default remote's name and URL; one clear error when there is none."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        name = repo.config["core"].get("remote")
        remotes = repo.config["remote"]
    if not name:
        raise InputError(
            "no default DVC remote: run `make remote`, or `dvc remote add --default NAME URL`"
        )
    if name not in remotes:
        raise InputError(f"the default DVC remote {name!r} is not configured (`dvc remote list`)")
    return name, remotes[name]["url"]


def check_remote(root: Path, action: str) -> str:
    """Refuse to pull from a local remote that is not there: DVC would pull nothing, silently."""
    name, url = default_remote(root)
    if action == "pull" and "://" not in url and not Path(url).is_dir():
        raise InputError(f"DVC remote {name!r} does not exist: no folder {url}")
    return f"{name} ({url})"


def sync_args(action: str, domain: str) -> list[str]:
    if action == "pull":
        # --allow-missing: what nobody pushed yet is simply computed here
        return ["pull", "--allow-missing", *(f"{step}@{domain}" for step in PULLED)]
    return ["push", *(f"{step}@{domain}" for step in STEPS)]


DENIED = ("Forbidden", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch")


def explain(why: str) -> str:
    """DVC's reason, plus what to do when the remote refused the credentials."""
    if any(word in why for word in DENIED):
        return f"{why} (the remote refused the credentials: check `dvc remote modify --local`)"
    return why
