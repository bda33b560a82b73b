"""The connector contract and the registry that finds connectors by entry point.

A connector turns one export file into normalized ``Message`` objects. It never touches
storage: it yields messages, and for an item it cannot read it yields a ``Rejection``
(file, line, reason) so the item is quarantined while the rest is archived. A file that is
not its format at all, or is unreadable as a whole, raises ``InputError``.

Built-in connectors register in the same entry-point group as third-party ones
(``archiver.connectors``); ``ARCHIVER_CONNECTORS=a,b`` restricts which load.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import ClassVar, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from archiver.errors import ArchiverError, InputError, Rejection, UnknownFormatError, UsageError
from archiver.model import Account, Message
from archiver.safezip import SafeZip, is_zip

ENTRY_POINT_GROUP = "archiver.connectors"
ENV_CONNECTORS = "ARCHIVER_CONNECTORS"
DATE_ORDERS = ("dmy", "mdy", "ymd")  # day/month/year order an officer can state for an export

ParsedItem = Message | Rejection


@dataclass(frozen=True)
class ParseContext:
    """What a connector needs to know about the export beyond its bytes.

    ``tz`` is the zone local times are read in; ``None`` means none was given, and a
    connector meeting a zone-less time must refuse rather than assume UTC.
    ``custodian_names`` are the names and handles under which the custodian appears in
    exports, so the connector can tell sent from received. ``date_order`` (one of
    ``DATE_ORDERS``) is the officer's word on how numeric dates read; ``None`` lets the
    connector decide from the export, and refuse when it cannot.
    """

    custodian: str
    account: Account = "personal"
    tz: ZoneInfo | None = None
    custodian_names: tuple[str, ...] = ()
    export_sha256: str | None = None
    date_order: str | None = None

    def is_custodian(self, name: str) -> bool:
        """True when ``name`` is one of the custodian's own names or handles."""
        folded = name.strip().casefold()
        return folded == self.custodian.casefold() or any(
            folded == alias.strip().casefold() for alias in self.custodian_names
        )


@runtime_checkable
class Connector(Protocol):
    """One export format."""

    name: ClassVar[str]
    description: ClassVar[str]

    def sniff(self, path: Path) -> bool:
        """True when the file looks like this connector's format (reads only its head)."""
        ...

    def parse(self, path: Path, context: ParseContext) -> Iterator[ParsedItem]:
        """Yield each message of the export in export order, or a Rejection for a bad item."""
        ...


class ConnectorRegistry:
    """Named connectors; ``detect`` picks one by content."""

    def __init__(self, connectors: Iterable[Connector] = ()) -> None:
        self._connectors: dict[str, Connector] = {}
        for connector in connectors:
            self.register(connector)

    def register(self, connector: Connector) -> None:
        """Add a connector; a second one under the same name is a configuration error."""
        if connector.name in self._connectors:
            raise UsageError(f"two connectors are registered as {connector.name!r}")
        self._connectors[connector.name] = connector

    @classmethod
    def from_entry_points(cls, environ: Mapping[str, str] | None = None) -> ConnectorRegistry:
        """Load every connector registered under ``archiver.connectors``."""
        environ = os.environ if environ is None else environ
        wanted = {n.strip() for n in environ.get(ENV_CONNECTORS, "").split(",") if n.strip()}
        registry = cls()
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if wanted and ep.name not in wanted:
                continue
            try:
                factory = ep.load()
            except Exception as exc:  # a broken third-party plugin must not hide the rest
                raise ArchiverError(f"connector {ep.name!r} ({ep.value}) failed to load: {exc}") from exc
            connector = factory()
            if connector.name != ep.name:
                raise UsageError(f"connector entry point {ep.name!r} names itself {connector.name!r}")
            registry.register(connector)
        return registry

    def names(self) -> list[str]:
        return sorted(self._connectors)

    def all(self) -> list[Connector]:
        return [self._connectors[name] for name in self.names()]

    def get(self, name: str) -> Connector:
        try:
            return self._connectors[name]
        except KeyError:
            raise UsageError(f"no connector named {name!r}; known: {', '.join(self.names())}") from None

    def detect(self, path: Path) -> Connector:
        """The one connector whose ``sniff`` accepts the file, judged by content."""
        matches = [c for c in self.all() if c.sniff(path)]
        if len(matches) == 1:
            return matches[0]
        formats = "; ".join(f"{c.name} ({c.description})" for c in self.all())
        if not matches:
            if is_zip(path):
                SafeZip(path).close()  # an unsafe or broken zip gets its precise reason, not "unknown"
            raise UnknownFormatError(str(path), f"not a recognised export. Known formats: {formats}")
        names = ", ".join(c.name for c in matches)
        raise UnknownFormatError(str(path), f"matches several formats ({names}); choose one with --connector")


def messages_only(items: Iterable[ParsedItem], rejections: list[Rejection]) -> Iterator[Message]:
    """The messages of a parse, collecting its rejections into ``rejections`` on the way."""
    for item in items:
        if isinstance(item, Rejection):
            rejections.append(item)
        else:
            yield item


def check_export_file(path: Path) -> None:
    """Refuse, with the reason, a path that is not an existing regular file."""
    if path.is_dir():
        raise InputError(str(path), "is a directory; name the export files inside it")
    if not path.exists():
        raise InputError(str(path), "no such file")
    if not path.is_file():
        raise InputError(str(path), "is not a regular file")
