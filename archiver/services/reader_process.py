"""Reading and classifying an export in a second process while this one seals, stores and
catalogs what it is handed: ingest's two halves each get a core.

The child only reads the export and computes (parse, classify, message ids); every write to
the archive stays in the parent, in the order a single process would make it, so the write
ordering, crash recovery and receipts are those of ``archiver.services.ingest``. The child
reads at most ``AHEAD`` chunks ahead, each kept pickled until sent (a few times smaller than
the objects it holds), so memory stays flat. A forked child needs
no second start-up: it shares the loaded rules and connectors. ``verify`` uses the same
means to check every other segment of a local archive in a second process.
"""

from __future__ import annotations

import ctypes
import gc
import multiprocessing
import os
import pickle
import queue
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from archiver.errors import ArchiverError, Rejection
from archiver.readers.scratch import work_for

Item = TypeVar("Item")
CHUNK = 256                 # messages per message sent to the parent
AHEAD = 64                  # chunks the child may read ahead of the parent (bounds its memory)
SECOND_PROCESS_FROM = 1 << 20  # export bytes: below this a child costs more than it saves
_ITEMS, _END = "items", "end"
_PR_SET_PDEATHSIG = 1  # prctl(2)


def second_process_available() -> bool:
    """Whether a forked reader can be used here (not on platforms without ``fork``)."""
    return "fork" in multiprocessing.get_all_start_methods()


def read_in_second_process(read: Callable[[list[Rejection]], Iterator[Item]], rejections: list[Rejection],
                           chunk: int = CHUNK, task: str = "reading the export") -> Iterator[Item]:
    """What ``read(rejections)`` yields, computed in a forked child.

    ``rejections`` receives the child's rejections when its reading ends, before an error it
    met is raised here (what was read before an ``InputError`` is still yielded). Closing
    this generator early stops the child. ``chunk``: items per message from the child;
    ``task``: what the child does, in the words of an error.
    """
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_produce, args=(read, receiver, sender, chunk, task, os.getpid()), daemon=True,
                            name="archiver-reader")
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # else the child, flushing its copy of the buffers on exit, prints them again
    with _shared_heap():
        child.start()
        sender.close()  # the child's end: a child that dies shows as the end of the pipe here
        try:
            while True:
                try:
                    kind, payload = receiver.recv()
                except EOFError:
                    child.join(5)
                    raise ArchiverError(f"the second process {task} stopped without finishing (exit "
                                        f"{child.exitcode}); what it handed on before is kept, run the command "
                                        "again") from None
                if kind == _ITEMS:
                    yield from payload
                    continue
                found, error = payload
                rejections.extend(found)
                if error is not None:
                    raise error
                return
        finally:
            receiver.close()
            if child.is_alive():
                child.terminate()
            child.join()


@contextmanager
def _shared_heap() -> Iterator[None]:
    """Keep the objects made before the fork out of the collector's reach, in both processes,
    until the child ends: a collection writes to each object it visits, and a page written to is
    copied, so what the two processes share would soon be resident in each."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _die_with(parent: int) -> None:
    """End this child with its parent: on Linux the kernel kills it the moment the parent dies;
    elsewhere it ends at its next send. Its plaintext copies are named for the parent, so the
    next command removes them as a killed command's."""
    work_for(parent)
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux
        pass
    if os.getppid() != parent:  # the parent died before the request was made
        os._exit(1)


def _produce(read: Callable[[list[Rejection]], Iterator[Any]], receiver: Connection, sender: Connection,
             size: int, task: str, parent: int) -> None:
    """The child: read, sending chunks; then the rejections and the error that ended it, if any.

    A thread sends while the reading goes on, up to ``AHEAD`` chunks ahead: the parent takes
    nothing while it writes a segment, and a pipe holds less than one chunk."""
    receiver.close()  # else a parent killed outright would leave this child writing forever
    _die_with(parent)
    outbox: queue.Queue[bytes | None] = queue.Queue(AHEAD)
    postman = threading.Thread(target=_send_all, args=(outbox, sender), daemon=True)
    postman.start()
    rejections: list[Rejection] = []
    chunk: list[Any] = []
    error: BaseException | None = None
    try:
        for item in read(rejections):
            chunk.append(item)
            if len(chunk) >= size:
                outbox.put(_pickled(_ITEMS, chunk))
                chunk = []
    except Exception as exc:  # handed to the parent, which raises it where reading would have
        error = exc
    outbox.put(_pickled(_ITEMS, chunk))
    outbox.put(_pickled(_END, (rejections, _portable(error, task))))
    outbox.put(None)
    postman.join()


def _pickled(kind: str, payload: Any) -> bytes:
    """A message to the parent as its ``recv`` reads it: pickled here, so that what waits to be
    sent is bytes rather than the objects' far larger graph."""
    return pickle.dumps((kind, payload), pickle.HIGHEST_PROTOCOL)


def _send_all(outbox: queue.Queue[bytes | None], sender: Connection) -> None:
    while (message := outbox.get()) is not None:
        try:
            sender.send_bytes(message)
        except OSError:  # the parent is gone or stopped reading: nothing is left to do
            os._exit(1)
    sender.close()


def _portable(error: BaseException | None, task: str) -> BaseException | None:
    """``error`` as it can cross to the parent (an error that cannot be pickled, by its message)."""
    if error is None:
        return None
    try:
        return pickle.loads(pickle.dumps(error))  # type: ignore[no-any-return]
    except Exception:  # noqa: BLE001 - any failure to cross means: send its words instead
        return ArchiverError(f"{task} failed: {type(error).__name__}: {error}")
