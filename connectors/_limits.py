"""Limits every connector applies to hostile exports, in one place.

A message body larger than ``MESSAGE_CAP`` or an attachment larger than ``ATTACHMENT_CAP`` is
rejected (quarantined with the reason) rather than held in memory; ``sniff`` reads at most
``SNIFF_BYTES`` of a file and treats any of ``SNIFF_ERRORS`` as "not this format", because
format detection must never fail on hostile bytes. SQLite databases are the exception: their
schema may lie anywhere in the file, so they are judged by the tables of a private copy
(``connectors._sqlite.read_schema``, bounded in time instead). A message sent outside ``SENT_YEARS`` is
rejected: no messaging export is older, and a date near year 1 or 9999 overflows when turned
into UTC or when its retention period is added.
"""

from __future__ import annotations

import zlib
from typing import Final

from archiver.errors import ArchiverError

MESSAGE_CAP: Final = 16 * 1024**2
ATTACHMENT_CAP: Final = 512 * 1024**2
SNIFF_BYTES: Final = 64 * 1024
SENT_YEARS: Final = range(1900, 3000)
SNIFF_ERRORS: Final = (ArchiverError, OSError, EOFError, ValueError, UnicodeError, RecursionError, zlib.error)
