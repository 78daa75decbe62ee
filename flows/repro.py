"""DVC as the flow drives it: `dvc status` and `dvc repro --single-item` in this process, so
a stage costs no `dvc` process (~0.7 s of start, imports and repo loading), and `dvc pull`
or `dvc push` as a process.

Every line of DVC's and of the stage command's output goes to one `log` function, so the
Prefect UI shows a stage's progress as it runs.
"""

import contextvars
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import chdir, contextmanager
from dataclasses import dataclass
from pathlib import Path

RAN, RESTORED, SKIPPED = "ran", "restored", "skipped"  # restored: from DVC's run cache
BUSY = "is busy, it is being blocked by"  # DVC's words for data another process is using

Log = Callable[[str], None]


def stage_env() -> dict[str, str]:
    """DVC runs `verticals stage ...` through the shell: put this interpreter's scripts first."""
    scripts = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": os.pathsep.join([scripts, os.environ.get("PATH", "")])}


def stage_file(root: str, target: str) -> str:
    # DVC resolves a bare stage name against the current directory: name the file.
    return f"{Path(root) / 'dvc.yaml'}:{target}"


def up_to_date(root: str, target: str) -> bool:
    from dvc.lock import LockError
    from dvc.repo import Repo

    try:
        with Repo(root) as repo:
            return not repo.status(targets=[stage_file(root, target)])
    except LockError:  # another run holds the repo: reproducing waits for it, then decides
        return False


@dataclass
class DvcRun:
    code: int = 0
    outcome: str = SKIPPED
    why: str | None = None  # the one-line reason, when it failed (the stage's or DVC's own)
    busy: bool = False  # another run on this workspace holds the stage's data
    last: str = ""  # DVC's last line, e.g. "3 files pushed"

    def read(self, line: str) -> None:
        self.last = line
        if self.why is None and line.lower().startswith("error: "):  # the first is the cause
            self.why = line[len("error: ") :]
        if line.startswith("Running stage"):
            self.outcome = RAN
        elif "is cached - skipping run" in line:
            self.outcome = RESTORED
        self.busy |= BUSY in line


def logged(result: DvcRun, log: Log) -> Log:
    """`log` for each non-blank line of `text`, which `result` reads as it goes."""

    def write(text: str) -> None:
        for line in filter(None, map(str.strip, text.splitlines())):
            log(line)
            result.read(line)

    return write


def run_dvc(args: list[str], root: str, log: Log) -> DvcRun:
    """A `dvc` command (pull, push) with every line of its output logged."""
    result = DvcRun()
    write = logged(result, log)
    # --wait-for-lock: a concurrent run holding DVC's repo lock is waited for
    with subprocess.Popen(
        [sys.executable, "-m", "dvc", "--wait-for-lock", *args],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=stage_env(),
    ) as proc:
        for line in proc.stdout:
            write(line)
    result.code = proc.returncode
    return result


def reproduce(root: str, target: str, log: Log) -> DvcRun:
    """`dvc --wait-for-lock repro --single-item target`, in this process."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    result = DvcRun()
    write = logged(result, log)
    try:
        # DVC's run cache reads `dvc.yaml` from the current directory (the CLI starts in the
        # repo's root); the flow's threads all use absolute paths to one workspace.
        with (
            chdir(root),
            dvc_log_to(write),
            command_output_to(write),
            Repo(root, _wait_for_lock=True) as repo,
        ):
            repo.scm_context.quiet = True  # no `git add dvc.lock` advice: nothing is committed
            repo.reproduce(stage_file(root, target), single_item=True, run_env=stage_env())
    except DvcException as e:  # the stage's own error line, if it wrote one, came first
        reasons = ": ".join(str(cause) for cause in causes(e))
        result.code, result.busy = 1, result.busy or BUSY in reasons
        result.why = result.why or reasons.splitlines()[0]
    return result


def causes(error: BaseException) -> Iterator[BaseException]:
    while error is not None:
        yield error
        error = error.__cause__


@contextmanager
def dvc_log_to(write: Log) -> Iterator[None]:
    """DVC's log lines from this thread go to `write` instead of the console; other threads'
    (other domains' stages) are left alone."""
    me = threading.get_ident()
    dvc_logger = logging.getLogger("dvc")
    dvc_logger.propagate = False  # DVC prints through its own handlers; not the root's as well
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: write(record.getMessage())
    handler.addFilter(lambda record: record.thread == me)
    not_mine = lambda record: record.thread != me  # noqa: E731
    consoles = list(dvc_logger.handlers)
    for console in consoles:
        console.addFilter(not_mine)
    dvc_logger.addHandler(handler)
    try:
        yield
    finally:
        dvc_logger.removeHandler(handler)
        for console in consoles:
            console.removeFilter(not_mine)


_command_output = threading.local()  # .fd: where stage commands started by this thread write


@contextmanager
def command_output_to(write: Log) -> Iterator[None]:
    """A stage command DVC starts from this thread writes into a pipe, read line by line."""
    route_command_output()
    read_end, write_end = os.pipe()

    def read() -> None:
        with open(read_end, errors="replace") as lines:
            for line in lines:
                write(line)

    # in this thread's context: Prefect finds the task run its log lines belong to there
    reader = threading.Thread(target=contextvars.copy_context().run, args=(read,), daemon=True)
    reader.start()
    _command_output.fd = write_end
    try:
        yield
    finally:
        _command_output.fd = None
        os.close(write_end)  # the command has exited: the reader gets the end of the pipe
        reader.join()


def route_command_output() -> None:
    """DVC starts a stage's command on this process's own stdout, with nothing to redirect it
    (`dvc.stage.run.prepare_kwargs` builds Popen's arguments): wrap that, once."""
    from dvc.stage import run

    if getattr(run.prepare_kwargs, "routed", False):
        return
    prepare_kwargs = run.prepare_kwargs

    def routed(stage, run_env=None) -> dict:
        kwargs = prepare_kwargs(stage, run_env=run_env)
        fd = getattr(_command_output, "fd", None)
        return kwargs if fd is None else {**kwargs, "stdout": fd, "stderr": subprocess.STDOUT}

    routed.routed = True
    run.prepare_kwargs = routed
