"""The object-store protocol: immutable bytes under a key, with retention.

A store knows nothing of records. It refuses to overwrite an object and refuses to delete
one before its retain-until date or while it is under legal hold; retention can be
extended, never shortened. ``retain_until=None`` means "kept indefinitely" (permanent or
not yet scheduled records).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import date
from typing import Protocol, TypeVar

from archiver.errors import StoreError

_KEY = re.compile(r"^[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)*$")


@dataclass(frozen=True)
class Retention:
    """Retention state of one object."""

    retain_until: date | None
    legal_hold: bool = False

    def allows_delete(self, today: date) -> bool:
        return not self.legal_hold and self.retain_until is not None and today >= self.retain_until


class ObjectStore(Protocol):
    """Write-once object storage (a WORM bucket or its local equivalent)."""

    # How many writes are worth running at once (``put_many``, attachments): each S3 request
    # waits on the network; one disk gains nothing from interleaved fsyncs.
    write_workers: int

    def put(self, key: str, data: bytes, retain_until: date | None, legal_hold: bool = False) -> None:
        """Store ``data`` under a new key, already under legal hold when ``legal_hold`` (an active hold
        covers it: it is never visible unheld); ``ObjectExistsError`` if the key is taken."""
        ...

    def put_many(self, items: Iterable[tuple[str, bytes, date | None]], workers: int | None = None,
                 legal_hold: bool = False) -> None:
        """``put`` each ``(key, data, retain_until)`` (all with ``legal_hold``), up to ``workers`` (by
        default ``write_workers``) at a time where the store can write in parallel; the first error
        is raised once the writes in flight finish."""
        ...

    def get(self, key: str) -> bytes:
        """The whole object; ``ObjectNotFoundError`` if absent."""
        ...

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        """``length`` bytes from ``offset`` (one frame of a segment)."""
        ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str = "") -> Iterator[str]:
        """Keys starting with ``prefix``, in sorted order."""
        ...

    def retention(self, key: str) -> Retention: ...

    def extend_retention(self, key: str, retain_until: date | None) -> None:
        """Move retain-until later (``None`` = indefinitely); never earlier."""
        ...

    def set_legal_hold(self, key: str, on: bool) -> None:
        """Place (``on``) or lift a legal hold: while placed, the object cannot be deleted."""
        ...

    def delete(self, key: str, today: date) -> None:
        """Delete an object whose retention has passed; ``RetentionError`` otherwise."""
        ...

    def check(self) -> None:
        """Refuse, with the reason, a store that cannot keep records as the law requires (a bucket
        without versioning or Object Lock, a folder that cannot be written)."""
        ...

    def discard_incomplete(self) -> None:
        """Remove leftovers of writes that never completed; call only under the archive lock."""
        ...


def validate_key(key: str) -> str:
    """Reject keys that could escape the store or collide with its bookkeeping."""
    # ".lock" is reserved for the local store's retention sidecars.
    if not _KEY.match(key) or ".." in key or len(key) > 512 or key.endswith(".lock"):
        raise StoreError(f"invalid object key {key!r}")
    return key


def later(current: date | None, wanted: date | None) -> date | None:
    """The later of two retain-until dates, where ``None`` (indefinite) is latest."""
    if current is None or wanted is None:
        return None
    return max(current, wanted)


Item = TypeVar("Item")


def write_all(write: Callable[[Item], None], items: Iterable[Item], workers: int, name: str) -> None:
    """``write`` each of ``items``, up to ``workers`` at a time on threads named ``name`` (one after
    another for one worker). Items are taken only as slots free up, so a generator of large objects
    is never held all at once; after the first failure no new item is started, the ones in flight
    finish, then that first error is raised."""
    if workers == 1:
        for item in items:
            write(item)
        return
    error: BaseException | None = None
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name) as pool:
        running: set[Future[None]] = set()
        for item in items:
            if len(running) >= workers:
                done, running = wait(running, return_when=FIRST_COMPLETED)
                error = _first_error(done)
                if error is not None:
                    break
            running.add(pool.submit(write, item))
        done, _ = wait(running)
        error = error or _first_error(done)
    if error is not None:
        raise error


def _first_error(done: Iterable[Future[None]]) -> BaseException | None:
    return next((f.exception() for f in done if f.exception() is not None), None)
