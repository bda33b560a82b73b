"""The archive's writer lock in the DynamoDB catalog: one item with an owner token and a lease.

A writer takes the lock item with a conditional put (free, or its lease lapsed) and keeps its
lease alive from a background thread while it works; a reader waits while a writer holds it.
A lock left by a killed process lapses with its lease, so nobody waits on a dead writer for long.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from archiver.errors import ArchiverError, CatalogError
from archiver.storage.catalog.dynamodb_items import LOCK_KEY, _key, _n, _number, _s
from archiver.storage.catalog.dynamodb_table import DynamoTable

LOCK_WAIT_SECONDS = 30.0     # as long as the SQLite catalog waits for its file lock
LOCK_LEASE_SECONDS = 60.0    # a lock left by a killed process is free again after this
LOCK_POLL_SECONDS = 0.5


class LockedTable(DynamoTable):
    """The catalog's table with the archive's writer lock in it (see the module docstring)."""

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """The archive's writer lock: a lock item with an owner token and a lease kept alive
        while held; waits up to ``LOCK_WAIT_SECONDS`` for another holder, then ``CatalogError``."""
        owner = uuid.uuid4().hex
        self._wait_for(lambda: self._take_lock(owner))
        keeper = _LeaseKeeper(self, owner)
        keeper.start()
        try:
            yield
        finally:
            keeper.stop()
            self._release_lock(owner)
        if keeper.lost:
            raise CatalogError(f"DynamoDB table {self.table}: the writer lock lapsed during this run and another "
                               "process took it; what was written is consistent, but run 'archiver verify'")

    @contextmanager
    def shared(self) -> Iterator[None]:
        """Read under the lock in shared mode: wait (as ``exclusive`` does) while a writer holds it.
        A reader takes no item, so a writer that starts later is not kept out."""
        self._wait_for(self._lock_free)
        yield

    def _wait_for(self, ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while not ready():
            if time.monotonic() > deadline:
                raise CatalogError(f"DynamoDB table {self.table}: another archiver process holds the archive; "
                                   f"try again when it has finished (a lock left by a stopped process lapses "
                                   f"{LOCK_LEASE_SECONDS:.0f} s after its last renewal)")
            time.sleep(LOCK_POLL_SECONDS)

    def _lock_free(self) -> bool:
        item = self._call(self._client.get_item, TableName=self.table, Key=_key(LOCK_KEY),
                          ConsistentRead=True).get("Item")
        return item is None or (_number(item, "expires") or 0) < time.time() * 1000

    def _take_lock(self, owner: str) -> bool:
        now = time.time()
        return self._conditional(
            self._client.put_item, TableName=self.table,
            Item={**_key(LOCK_KEY), "type": _s("lock"), "owner": _s(owner),
                  "expires": _n(int((now + LOCK_LEASE_SECONDS) * 1000))},
            ConditionExpression="attribute_not_exists(pk) OR #expires < :now",
            ExpressionAttributeNames={"#expires": "expires"},
            ExpressionAttributeValues={":now": _n(int(now * 1000))})

    def _renew_lock(self, owner: str) -> bool:
        """Extend the lease of the lock held by ``owner``; False if it is no longer theirs."""
        return self._conditional(
            self._client.update_item, TableName=self.table, Key=_key(LOCK_KEY),
            UpdateExpression="SET #expires = :expires", ConditionExpression="#owner = :owner",
            ExpressionAttributeNames={"#expires": "expires", "#owner": "owner"},
            ExpressionAttributeValues={":expires": _n(int((time.time() + LOCK_LEASE_SECONDS) * 1000)),
                                       ":owner": _s(owner)})

    def _release_lock(self, owner: str) -> None:
        # A lock no longer ours (lapsed and taken over) is not ours to delete.
        self._conditional(self._client.delete_item, TableName=self.table, Key=_key(LOCK_KEY),
                          ConditionExpression="#owner = :owner", ExpressionAttributeNames={"#owner": "owner"},
                          ExpressionAttributeValues={":owner": _s(owner)})


class _LeaseKeeper:
    """Renews the writer lock's lease in the background while it is held."""

    def __init__(self, catalog: LockedTable, owner: str) -> None:
        self._catalog, self._owner = catalog, owner
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="archiver-lock-lease", daemon=True)
        self.lost = False

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stopped.wait(LOCK_LEASE_SECONDS / 4):
            try:
                if not self._catalog._renew_lock(self._owner):
                    self.lost = True
                    return
            except ArchiverError:
                continue  # a passing network or throttling error: the lease still has time left

