"""The archiver's one exception tree.

Every error a user can cause or meet is an ``ArchiverError``; its message is written for
the person at the terminal, and ``exit_code`` is what the CLI returns::

    ArchiverError                       exit 1 unless a subclass says otherwise
    ├── InputError                      exit 2: a file or line the archiver cannot read
    │   └── UnknownFormatError          no connector recognises the file
    ├── UsageError                      exit 2: bad option, value or configuration
    │   ├── ConfigError                 archiver.yaml / ARCHIVER_* cannot be used
    │   ├── AccessDenied                the actor lacks the role the action needs (audited)
    │   └── CaseError                   no such case, or the case is closed
    ├── StoreError                      the object store refused or failed
    │   ├── ObjectExistsError           write-once: the object is already there
    │   ├── ObjectNotFoundError
    │   └── RetentionError              delete/shorten refused before retain-until or under hold
    ├── KeyProviderError                exit 2: key file missing, unreadable or wrong
    ├── ReadOnlyArchiveError            exit 2: a writing command on an archive that cannot be written
    ├── IntegrityError                  an envelope, frame or audit entry fails its check
    └── CatalogError                    the catalog cannot be opened or is inconsistent
"""

from __future__ import annotations

from dataclasses import dataclass


class ArchiverError(Exception):
    """Base of every error the archiver reports to its user."""

    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InputError(ArchiverError):
    """An export (or one place in it) cannot be read; names the file and line."""

    exit_code = 2

    def __init__(self, file: str, cause: str, line: int | None = None) -> None:
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {cause}")
        self.file = file
        self.line = line
        self.cause = cause

    def __reduce__(self) -> tuple[type[InputError], tuple[str, str, int | None]]:
        # Pickled as its parts, not its message: it crosses from the process reading an export.
        return type(self), (self.file, self.cause, self.line)


class UnknownFormatError(InputError):
    """No registered connector recognises the file."""


class UsageError(ArchiverError):
    """A command was called with options or values it cannot use."""

    exit_code = 2


class ConfigError(UsageError):
    """The configuration file or an ARCHIVER_* variable is unusable."""


class AccessDenied(UsageError):
    """The actor holds none of the roles an action needs; the refusal is an audit entry."""


class CaseError(UsageError):
    """An investigation names a case that does not exist, is closed, or is written wrongly."""


class StoreError(ArchiverError):
    """The object store refused or failed an operation."""


class StoreAccessError(StoreError):
    """The store cannot be reached or used as configured: credentials, endpoint, bucket, access."""

    exit_code = 2


class ObjectExistsError(StoreError):
    """Write-once store: an object with that key already exists."""


class ObjectNotFoundError(StoreError):
    """The object store has no object with that key."""


class RetentionError(StoreError):
    """Deleting or shortening retention was refused (retain-until not reached, or a hold)."""


class KeyProviderError(ArchiverError):
    """The key provider cannot supply or unwrap a key (missing, unreadable or wrong key file)."""

    exit_code = 2


class ReadOnlyArchiveError(ArchiverError):
    """A command that writes met a store folder or catalog it cannot write (checked before any write)."""

    exit_code = 2


class IntegrityError(ArchiverError):
    """Stored data failed an integrity check (tampered, truncated or swapped)."""


class CatalogError(ArchiverError):
    """The catalog cannot be opened or disagrees with itself."""


@dataclass(frozen=True)
class Rejection:
    """One input item that could not be archived: it is quarantined with this reason.

    ``reason`` never carries message text, only where and why.
    """

    file: str
    line: int | None
    reason: str

    def as_dict(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "reason": self.reason}


class KeyServiceError(ArchiverError):
    """KMS failed or refused a call in the middle of a run (outage, throttling, access revoked).

    Deliberately not a ``KeyProviderError``: ``envelope.open_sealed`` reads that as "this wrapped
    key does not open", i.e. damage, and an outage must never be reported as a tampered record.
    """

    exit_code = 2
