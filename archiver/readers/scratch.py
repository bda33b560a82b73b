"""Private folders for the plaintext copies a connector must make of an export.

SQLite cannot read a database without writing beside it, and cannot read from a zip, so the
database connectors read a copy. A copy holds message text in the clear, so it lives in a
folder made 0700 inside a *temp area*: the archive's own (``Archive.temp_dir``) while an
archive is open, else the system temp dir. The folder is named for the process that made it
(for a process forked to read an export, the command it reads for: ``work_for``); one left
behind by a killed process is removed by the next command that opens the archive or makes a
copy (``remove_abandoned``), and a live process's folder is never touched.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from archiver.errors import StoreError

PREFIX = "archiver-sqlite-"

# The area detection uses: sniffing has no ParseContext, and the Connector protocol stays as it is.
_AREA: ContextVar[Path | None] = ContextVar("archiver_temp_area", default=None)
_OWNER: dict[str, int] = {}  # "pid": the process this one's folders are named for, when not itself


def work_for(pid: int) -> None:
    """Name this process's private folders for process ``pid``: a forked reader's copies are
    then abandoned, and removed by the next command, as soon as the command it reads for is killed."""
    _OWNER["pid"] = pid


def current_area() -> Path:
    """The temp area in use: the one set by ``using_area``, else the system temp dir."""
    return _AREA.get() or Path(tempfile.gettempdir())


@contextmanager
def using_area(area: Path | None) -> Iterator[None]:
    """Make ``area`` (None: the system temp dir) the temp area for the code run inside."""
    token = _AREA.set(area)
    try:
        yield
    finally:
        _AREA.reset(token)


@contextmanager
def private_folder(area: Path | None = None) -> Iterator[Path]:
    """A new 0700 folder in ``area`` (default: the current area), removed on exit.

    Raises:
        StoreError: the temp area cannot be created.
    """
    area = area or current_area()
    try:
        area.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"{area}: cannot create the folder for temporary copies: {exc.strerror}") from None
    remove_abandoned(area)
    owner = _OWNER.get("pid", os.getpid())
    with tempfile.TemporaryDirectory(prefix=f"{PREFIX}{owner}-", dir=area) as folder:
        yield Path(folder)


def remove_abandoned(area: Path) -> None:
    """Remove the private folders in ``area`` whose process is gone (killed before it could clean up)."""
    for leftover in area.glob(f"{PREFIX}*"):
        pid = leftover.name.removeprefix(PREFIX).split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)) and leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: leave its folder alone
    return True
