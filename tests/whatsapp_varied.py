"""Varied WhatsApp exports, generated the same for the same seed, and a digest of what the
connector reads from them: the ground for ``tests/test_whatsapp_equivalence.py``.

Each variant is one chat in one header style (Android and iOS, 12- and 24-hour, dotted,
year-first, time-first, Spanish "a. m."), with every language's placeholders and notices,
multi-line messages, membership changes, edits and deletions, and the damage a real export
can carry: lines before the first header, impossible dates, invalid UTF-8, lines over 1 MiB,
a message over 16 MiB, CRLF and stray CR, a BOM, UTF-16, and a zip with some of its media.

    python -m tests.whatsapp_varied OUT.json   # record the digests of the connector as it is
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import sys
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from archiver.connector import ParseContext, ParsedItem
from archiver.errors import InputError
from archiver.model import Message
from connectors._whatsapp_locales import LANGUAGES
from connectors.whatsapp import WhatsAppConnector

CUSTODIAN, ALIAS = "mvega", "Marisol Vega"
PEOPLE = ("Brian Okafor", "Tomás Aguirre", "Katrin Böhm", "\u202a+1 (520) 555-0101\u202c", "~\u202fRamón Ibarra",
          "Ana: the driver", ALIAS)  # fmt: skip
WORDS = ("lane", "truck", "manifest", "permit", "carril", "garita", "vérifié", "😀", "🚚", "Ärger", "ok", "3",
         "14/03/1981", "10:30", "-", "<b>", "(file)", "omitted", "@Brian")  # fmt: skip
BLOCK = 100  # items per digest: a difference is found to the hundred
ENGLISH = LANGUAGES["English"]


def _h12(moment: datetime) -> tuple[int, str]:
    return (moment.hour % 12 or 12), ("AM" if moment.hour < 12 else "PM")


def _us12(t: datetime) -> str:
    hour, mark = _h12(t)
    return f"{t.month}/{t.day}/{t:%y}, {hour}:{t:%M}\u202f{mark} - "


def _spanish(t: datetime) -> str:
    hour, mark = _h12(t)
    return f"{t:%d/%m/%Y}, {hour}:{t:%M} {'a. m.' if mark == 'AM' else 'p. m.'} - "


def _ios12(t: datetime) -> str:
    hour, mark = _h12(t)
    return f"[{t.month}/{t.day}/{t:%y}, {hour}:{t:%M:%S} {mark}] "


STYLES: dict[str, Callable[[datetime], str]] = {
    "android_us_12h": _us12,
    "android_dmy_24h": lambda t: f"{t:%d/%m/%Y}, {t:%H:%M} - ",
    "android_dotted": lambda t: f"{t:%d.%m.%y}, {t:%H:%M} - ",
    "android_year_first": lambda t: f"{t:%Y/%m/%d}, {t:%H:%M} - ",
    "android_spanish": _spanish,
    "ios_dmy": lambda t: f"[{t:%d/%m/%Y}, {t:%H:%M:%S}] ",
    "ios_us_12h": _ios12,
    "ios_time_first": lambda t: f"[{t:%H:%M:%S}, {t.month}/{t.day}/{t:%y}] ",
    "brackets_no_comma": lambda t: f"[{t:%m/%d/%y} {t:%H:%M}] ",
}


@dataclass(frozen=True)
class Variant:
    """One generated export and the context it is read in."""

    style: str
    count: int = 400
    seed: int = 1
    zone: str = "America/New_York"
    date_order: str | None = None
    crlf: bool = False
    utf16: bool = False
    bom: bool = False
    damage: bool = False  # orphan lines, bad dates, invalid UTF-8, stray CR
    huge: bool = False  # a line over 1 MiB and a message over 16 MiB
    zipped: bool = False
    plain: bool = False  # text only: no media name to tell the day/month order by
    start: datetime = datetime(2024, 3, 9, 22, 0)  # two days before a daylight-saving change


VARIANTS: dict[str, Variant] = {
    **{style: Variant(style) for style in STYLES},
    "long_multiline": Variant("android_dmy_24h", count=4000, seed=2, zone="Europe/Madrid"),
    "crlf_bom": Variant("ios_us_12h", seed=3, crlf=True, bom=True),
    "utf16": Variant("android_dotted", seed=4, utf16=True, zone="Europe/Berlin"),
    "damaged": Variant("android_us_12h", count=1500, seed=5, damage=True),
    "damaged_ios": Variant("ios_dmy", count=1500, seed=6, damage=True, crlf=True, zone="Europe/Berlin"),
    "huge": Variant("android_dmy_24h", count=300, seed=7, huge=True, zone="UTC"),
    "zipped": Variant("ios_dmy", seed=8, zipped=True, zone="Europe/London"),
    "zipped_android": Variant("android_dmy_24h", seed=9, zipped=True, zone="Europe/London"),
    "stated_dmy": Variant("android_dotted", seed=10, date_order="dmy", zone="UTC"),
    "stated_wrong": Variant("android_us_12h", seed=11, date_order="dmy", zone="UTC"),
    "undecided": Variant("android_dmy_24h", count=15, seed=12, zone="UTC", plain=True,
                         start=datetime(2024, 3, 1, 9, 0)),
    "fall_back": Variant("android_us_12h", seed=13, start=datetime(2024, 11, 2, 22, 0)),
}


class _Chat:
    """Writes one chat's messages in a style, as lists of lines."""

    def __init__(self, variant: Variant) -> None:
        self.variant = variant
        self.random = random.Random(variant.seed)
        self.stamp = STYLES[variant.style]
        self.ios = variant.style.startswith("ios") or variant.style == "brackets_no_comma"
        self.media: dict[str, bytes] = {}

    def text(self, low: int = 1, high: int = 12) -> str:
        return " ".join(self.random.choice(WORDS) for _ in range(self.random.randint(low, high)))

    def body(self, moment: datetime) -> list[str]:
        """One message's body lines (after the header's author)."""
        pick, lang = self.random.random(), self.random.choice(list(LANGUAGES.values()))
        if pick < 0.35 or self.variant.plain:
            return [self.text()]
        if pick < 0.45:
            lines = [self.text() for _ in range(self.random.randint(2, 5))]
            lines[self.random.randrange(len(lines))] = ""
            return lines + [""] * self.random.randint(0, 2)
        if pick < 0.50 and lang.media_omitted:
            placeholder = f"<{self.random.choice(lang.media_omitted)}>"
            return [placeholder] + ([self.text()] if self.random.random() < 0.3 else [])
        if pick < 0.55 and lang.file_attached:
            name = f"IMG-{moment:%Y%m%d}-WA{self.random.randint(0, 99):04d}.jpg"
            self.media.setdefault(name, name.encode() * 3) if self.random.random() < 0.5 else None
            return [f"{name} ({self.random.choice(lang.file_attached)})", self.text()]
        if pick < 0.60 and lang.attached:
            name = f"{self.random.randint(0, 99):08d}-PHOTO-{moment:%Y-%m-%d-%H-%M-%S}.jpg"
            self.media.setdefault(name, name.encode() * 5) if self.random.random() < 0.5 else None
            return [f"\u200e<{self.random.choice(lang.attached)}: {name}>"]
        if pick < 0.65:
            return [f"\u200e{self.random.choice(list(lang.omitted))}"]
        if pick < 0.70:
            return [self.random.choice(lang.deleted) + self.random.choice(("", "."))]
        if pick < 0.75:
            return [f"{self.text()} <This message was edited>"]
        if pick < 0.78:
            return ["", self.text()]  # "Name:" and the text on the next line
        return [self.text(1, 40)]

    def notice(self) -> str:
        """An app notice: who joined or left, a banner, a security code."""
        a, b, c = self.random.sample(PEOPLE, 3)
        lang = self.random.choice(list(LANGUAGES.values()))
        return self.random.choice((
            f"{a} added {b}", f"{a} added {b}, {c} and You", f"{a} removed {b}", f"{b} left", f"You added {c}",
            f"{a} joined using this group's invite link", f'{a} created group "Port Ops"',
            f"{a} changed the subject from \"a\" to \"b\"", f"Your security code with {b} changed.",
            f"{lang.notices[0]}. Tap to learn more.", f"{a}{self.random.choice(lang.events or ENGLISH.events)} x",
        ))  # fmt: skip

    def message(self, moment: datetime) -> list[str]:
        stamp = self.stamp(moment)
        if self.random.random() < 0.08:
            notice = self.notice()
            if self.ios:
                return [f"\u200e{stamp}Port Ops: \u200e{notice}"]
            return [f"{stamp}{notice}"]
        sender = self.random.choice(PEOPLE)
        first, *rest = self.body(moment)
        return [f"{stamp}{sender}: {first}" if first else f"{stamp}{sender}:", *rest]

    def lines(self) -> Iterator[str]:
        moment = self.variant.start
        for _ in range(self.variant.count):
            moment += timedelta(minutes=self.random.choice((0, 0, 0, 1, 1, 7, 45, 300)),
                                seconds=self.random.choice((0, 5, 59)))
            yield from self.message(moment)


def _damage(random_: random.Random, lines: list[bytes], stamp: Callable[[datetime], str]) -> list[bytes]:
    """The same lines with what a damaged export carries, at places ``random_`` chooses."""
    damaged = [b"exported by a tool", b"", b"  stray line before any header"]
    for line in lines:
        pick = random_.random()
        if pick < 0.01:
            damaged.append(line[: len(line) // 2] + b"\xff\xfe" + line[len(line) // 2 :])
        elif pick < 0.02:
            damaged.append(line + b"\r")
        elif pick < 0.03:
            stamp_text = stamp(datetime(2024, 4, 30, 10, 0))  # April 31st, or 10:61
            bad = stamp_text.replace("30", "31", 1) if pick < 0.025 else stamp_text.replace(":00", ":61", 1)
            damaged.append(bad.encode() + b"Brian Okafor: bad date")
        else:
            damaged.append(line)
        if pick > 0.995:
            damaged.append("continuation with \u200e marks and \r inside".encode())
    return damaged


def export_bytes(variant: Variant) -> tuple[bytes, dict[str, bytes]]:
    """The chat text of ``variant`` as its file holds it, and the media files beside it."""
    chat = _Chat(variant)
    lines = [line.encode() for line in chat.lines()]
    if variant.damage:
        lines = _damage(chat.random, lines, chat.stamp)
    if variant.huge:
        at = len(lines) // 3
        big_message = [chat.stamp(variant.start).encode() + b"Brian Okafor: start", *[b"B" * (1024**2 - 10)] * 17]
        over_long = chat.stamp(variant.start).encode() + b"Ana: " + "é".encode() * (600 * 1024)
        lines[at:at] = [*big_message, over_long, lines[at], b"C" * (2 * 1024**2 + 3), b"tail"]
    ending = b"\r\n" if variant.crlf else b"\n"
    data = ending.join(lines) + (ending if chat.random.random() < 0.5 else b"")
    if variant.bom:
        data = b"\xef\xbb\xbf" + data
    if variant.utf16:
        data = data.decode().encode("utf-16")
    return data, chat.media


def write_variant(folder: Path, name: str, variant: Variant) -> Path:
    """Write ``variant``'s export into ``folder``: a .txt, or a .zip with its media."""
    data, media = export_bytes(variant)
    if not variant.zipped:
        path = folder / f"WhatsApp Chat with {name}.txt"
        path.write_bytes(data)
        return path
    path = folder / f"WhatsApp Chat - {name}.zip"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("_chat.txt", data)
        for file_name, content in sorted(media.items()):
            archive.writestr(file_name, content)
    path.write_bytes(buffer.getvalue())
    return path


def context(variant: Variant) -> ParseContext:
    return ParseContext(custodian=CUSTODIAN, custodian_names=(ALIAS,), tz=ZoneInfo(variant.zone),
                        export_sha256="cd" * 32, date_order=variant.date_order)  # fmt: skip


def item_text(item: ParsedItem) -> str:
    """Everything a parsed item carries, as text: the JSON form, the datetime's own repr (zone
    and fold) and each attachment's bytes by digest."""
    if isinstance(item, Message):
        contents = [None if a.content is None else hashlib.sha256(a.content).hexdigest() for a in item.attachments]
        return json.dumps([item.to_json(), repr(item.sent_at), contents], ensure_ascii=False)
    return json.dumps(["rejection", item.as_dict()], ensure_ascii=False)


def digests(path: Path, variant: Variant) -> dict[str, object]:
    """The items read from ``path``, as a count and one digest per ``BLOCK`` items; or the error."""
    blocks: list[str] = []
    count, block = 0, hashlib.sha256()
    try:
        for item in WhatsAppConnector().parse(path, context(variant)):
            block.update(item_text(item).replace(str(path), "<path>").encode() + b"\n")
            count += 1
            if count % BLOCK == 0:
                blocks.append(block.hexdigest()[:16])
                block = hashlib.sha256()
    except InputError as error:
        return {"error": str(error).replace(str(path), "<path>"), "count": count}
    if count % BLOCK:
        blocks.append(block.hexdigest()[:16])
    return {"count": count, "blocks": blocks}


def record(folder: Path) -> dict[str, dict[str, object]]:
    """The digests of every variant, written into ``folder`` and read back."""
    return {name: digests(write_variant(folder, name, variant), variant) for name, variant in VARIANTS.items()}


def main(out: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        found = record(Path(tmp))
    Path(out).write_text(json.dumps(found, indent=1, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1])
