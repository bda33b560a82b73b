"""The JSON walk through a Telegram Desktop ``result.json``, one message at a time.

The file is read with ijson's event parser (``basic_parse``: it builds no prefix strings, so
hostile deep nesting costs nothing). Outside messages the walk only tracks where it is and picks
up each chat's fields and the account owner (``personal_information``); each message is built
alone and handed over with its chat and its number in the file, or refused once it grows past
MESSAGE_CAP or MAX_DEPTH. A chat also carries who is known to be in it (``Members``), which
``connectors.telegram`` fills in as it turns the messages into Messages. The same walk over the
file's head tells whether it is Telegram's at all.
"""

from __future__ import annotations

import bisect
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

import ijson

from archiver.errors import InputError
from connectors._json import Meter, events
from connectors._limits import MESSAGE_CAP
from connectors._telegram_export import starts_like_html, utf8_without_bom

MAX_DEPTH: Final = 64  # a real export nests about 8 levels
MAX_PARTICIPANTS: Final = 4096
NOT_TELEGRAM: Final = "not a Telegram Desktop export"

_CHAT_PATHS: Final[tuple[list[str | None], ...]] = ([], ["chats", "list", "item"], ["left_chats", "list", "item"])
PERSONAL: Final = frozenset({"personal_chat", "bot_chat"})
SAVED: Final = "saved_messages"
_GROUPS: Final = frozenset({"private_group", "private_supergroup", "public_supergroup", "private_channel",
                            "public_channel"})  # fmt: skip
_CHAT_TYPES: Final = PERSONAL | _GROUPS | {SAVED}
MESSAGE_TYPES: Final = frozenset({"message", "service"})
_DEPTH_CHANGE: Final = {"start_map": 1, "start_array": 1, "end_map": -1, "end_array": -1}


@dataclass
class Chat:
    """The chat whose messages are being read, as far as its fields have been seen."""

    number: int  # 0 for a single-chat export's root, then 1, 2, ... in an account export
    name: str | None = None
    kind: str | None = None
    chat_id: str | None = None
    members: Members | None = None


class Members:
    """Who is known to be in a group so far, kept sorted (the custodian under one name)."""

    def __init__(self, owner: str) -> None:
        self._names = [owner]

    def _find(self, key: str) -> int | None:
        index = bisect.bisect_left(self._names, key)
        return index if index < len(self._names) and self._names[index] == key else None

    def others(self, key: str) -> tuple[str, ...]:
        index = self._find(key)
        names = self._names
        return tuple(names) if index is None else tuple(names[:index] + names[index + 1 :])

    def join(self, key: str) -> None:
        if key and len(self._names) < MAX_PARTICIPANTS and self._find(key) is None:
            bisect.insort(self._names, key)

    def leave(self, key: str) -> None:
        index = self._find(key)
        if index is not None:
            del self._names[index]


@dataclass(frozen=True)
class Refused:
    """A message that was not built, and why."""

    reason: str


class Walker:
    """Turns parser events into (chat, item number, message value), building one message at a time.

    Outside messages it only tracks where it is (the keys of the open containers) and picks up
    the chat fields and the account owner; a message is built by ``_read_message``, which stops
    keeping it once it grows past MESSAGE_CAP or MAX_DEPTH.
    """

    def __init__(self, meter: Meter, display: str) -> None:
        self._meter = meter
        self._display = display
        self._keys: list[str | None] = []  # per open container: its current key ("item" in a list)
        self._started = False
        self.telegram = False  # evidence seen that this is Telegram Desktop's result.json
        self.owner: dict[str, Any] = {}  # personal_information: user_id, first_name, last_name
        self.chat = Chat(0)
        self._chats = 0
        self._number = 0

    def items(self, events: Iterator[tuple[str, Any]]) -> Iterator[tuple[Chat, int, Any]]:
        """Each message (or the reason it was not built) with its chat and number in the file.

        Raises:
            InputError: the JSON is not a Telegram Desktop export or nests too deeply.
        """
        meter = self._meter
        events = iter(events)
        for event, value in events:
            meter.mark = meter.offset
            if event == "map_key":
                self._key(value)
            elif event in ("end_map", "end_array"):
                self._keys.pop()
            elif self._at_message():
                self._number += 1
                yield self.chat, self._number, self._checked(self._read_message(events, event, value))
            elif event in ("start_map", "start_array"):
                self._open(event)
            else:
                self._scalar(value)
        if not self.telegram:
            raise InputError(self._display, f"{NOT_TELEGRAM}: no Telegram chat, message or account data found")

    def _key(self, key: str) -> None:
        keys = self._keys
        keys[-1] = key
        if len(keys) == 2 and keys[0] in ("chats", "left_chats") and key == "list":
            self.telegram = True

    def _at_message(self) -> bool:
        keys = self._keys
        return len(keys) >= 2 and keys[-2] == "messages" and keys[-1] == "item" and keys[:-2] in _CHAT_PATHS

    def _open(self, event: str) -> None:
        keys = self._keys
        if not self._started:
            self._started = True
            if event != "start_map":
                raise InputError(self._display, f"{NOT_TELEGRAM}: the JSON is a list, not result.json's object")
        if len(keys) >= MAX_DEPTH:
            raise InputError(self._display, f"JSON nests deeper than {MAX_DEPTH} levels near byte {self._meter.offset}")
        if event == "start_map" and keys in _CHAT_PATHS:
            if keys:  # a chat of an account export; the root is the chat of a single-chat export
                self._chats += 1
            self.chat = Chat(self._chats)
        keys.append(None if event == "start_map" else "item")

    def _scalar(self, value: Any) -> None:
        keys = self._keys
        if not self._started:
            raise InputError(self._display, f"{NOT_TELEGRAM}: the JSON is a single value, not an object")
        if len(keys) == 2 and keys[0] == "personal_information" and isinstance(keys[1], str):
            self.owner[keys[1]] = value
            self.telegram = self.telegram or keys[1] == "user_id"
        elif keys and keys[:-1] in _CHAT_PATHS:
            self._chat_field(keys[-1], value)

    def _chat_field(self, key: str | None, value: Any) -> None:
        chat = self.chat
        if key == "name" and isinstance(value, str):
            chat.name = value
        elif key == "type" and isinstance(value, str):
            chat.kind = value
            self.telegram = self.telegram or value in _CHAT_TYPES
        elif key == "id" and isinstance(value, str | int) and not isinstance(value, bool):
            chat.chat_id = str(value)

    def _read_message(self, events: Iterator[tuple[str, Any]], event: str, value: Any) -> Any:
        """One message from its first event to its last; past the caps it is read on but not kept."""
        builder = ijson.ObjectBuilder()
        builder.event(event, value)
        depth = _DEPTH_CHANGE.get(event, 0)
        meter, start, room = self._meter, self._meter.offset, MAX_DEPTH - len(self._keys)
        if not depth:
            return builder.value  # a bare value where a message object belongs
        add, problem = builder.event, None
        for event, value in events:  # a tight loop: this is where a multi-GB export spends its time
            meter.mark = meter.offset
            depth += _DEPTH_CHANGE.get(event, 0)
            if problem is None:
                if meter.offset - start > MESSAGE_CAP:
                    problem = f"is larger than {MESSAGE_CAP >> 20} MiB"
                elif depth > room:
                    problem = f"nests deeper than {MAX_DEPTH} levels"
                else:
                    add(event, value)
            if not depth:
                break
        return builder.value if problem is None else Refused(problem)

    def _checked(self, value: Any) -> Any:
        """The message; the first one must look like Telegram's unless the chat already did."""
        if not self.telegram and not isinstance(value, Refused):
            if not looks_like_message(value):
                raise InputError(self._display, f"{NOT_TELEGRAM}: its first message has no Telegram 'type' and 'date'")
            self.telegram = True
        return value


def looks_like_message(value: Any) -> bool:
    return (
        isinstance(value, dict) and value.get("type") in MESSAGE_TYPES and ("date" in value or "date_unixtime" in value)
    )


def looks_like_telegram(head: bytes) -> bool:
    """Walk the head's JSON events until Telegram's keys show (a cut-off head is expected)."""
    stream = utf8_without_bom(io.BufferedReader(io.BytesIO(head)))
    if starts_like_html(stream):
        return False
    meter = Meter(stream, "head")
    walker = Walker(meter, "head")
    try:
        for _item in walker.items(events(meter, "head", max_depth=None)):
            if walker.telegram:
                return True
    except InputError:
        pass  # the head ends mid-JSON, or the JSON is not Telegram's
    return walker.telegram
