"""A deterministic generator of realistic exports for the benchmarks: the same seed and count
give the same bytes, on any machine.

Formats, each as the archiver's connectors read them:

- WhatsApp Android ``_chat.txt`` (``12/31/24, 9:05 PM - Name: text``), a group chat;
- WhatsApp iOS ``_chat.txt`` (``[31/12/2024, 21:05:07] Name: text``), a one-to-one chat;
- SMS Backup & Restore XML (``<smses>`` of ``<sms>``);
- an mbox of plain-text mail.

The text mixes what an officer's phone holds: short official instructions with truck, lane and
permit numbers, chatter, Spanish, names and numbers, emoji, multi-line messages, media
placeholders and the app's own system notices. One message in ``RARE_EVERY`` carries
``RARE_WORD``, which a search benchmark can look for.

    python bench/generate.py OUT_DIR [--messages 100000] [--seed 2026] [--formats android,ios,sms,mbox]
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import quoteattr

SEED = 2026
CUSTODIAN = "Jorge Rivera"
TZ = "America/Phoenix"
RARE_WORD = "quetzalcoatlus"
RARE_EVERY = 5000
START = datetime(2024, 1, 2, 7, 30, tzinfo=timezone.utc)
PEOPLE = ("Ana Lopez", "Luis Vega", "Carmen Ortiz", "Pedro Salas", "María José Quintero", "Raúl Domínguez",
          "Elena Torres", "Miguel Castillo")
OFFICIAL = ("Approved, release truck {n} to secondary inspection",
            "Hold trailer {n} at lane {lane} until the manifest is checked",
            "Permit {n} denied: seal number does not match the bill of lading",
            "Send me the incident report for checkpoint {lane} by 1600",
            "Confirm the escort for container MSKU{n} leaves at 0700",
            "Driver DOB 14/03/1981, passport G{n}, refer to CBP officer on duty",
            "Lane {lane} closed for maintenance, reroute commercial traffic to lane {lane2}",
            "Seized 3 boxes of undeclared cargo from truck {n}, evidence tag EV-{n}")
CHATTER = ("ok", "👍", "on my way", "lol", "thanks!", "Happy birthday! 🎂", "can you call me?",
           "running 10 min late", "¿Cuántos vehículos pasaron por el carril {lane} hoy?",
           "Ya llegué a la garita", "see you at lunch", "Meeting moved to 3pm at the port office",
           "did you see the game last night", "call {phone} when you get this")
MULTILINE = ("Shift change:\nlane {lane}: {name}\nlane {lane2}: {first}\nbring the manifests",
             "Reminder for tomorrow\n- vests\n- radios\n- permit {n} copies")
ANDROID_NOTICE = ("Messages and calls are end-to-end encrypted. No one outside of this chat, not even WhatsApp, "
                  "can read or listen to them. Tap to learn more.")
IOS_IMAGE = "\u200eimage omitted"
# Each kind with its share of the messages; the rest are official texts.
SHARES = (("chatter", 0.45), ("multiline", 0.05), ("media", 0.04), ("notice", 0.01))


@dataclass(frozen=True)
class Line:
    """One generated message: when, who, what (``sender`` empty for a system notice)."""

    when: datetime
    sender: str
    text: str
    media: bool = False


def _pick_kind(rng: random.Random) -> str:
    roll = rng.random()
    for kind, share in SHARES:
        if roll < share:
            return kind
        roll -= share
    return "official"


def _fill(rng: random.Random, template: str) -> str:
    name = rng.choice(PEOPLE)
    return template.format(n=rng.randint(1000, 99_999_999), lane=rng.randint(1, 12),
                           lane2=rng.randint(1, 12), name=name, first=name.split()[0],
                           phone=f"(520) 555-{rng.randint(0, 9999):04d}")


def lines(count: int, seed: int, senders: tuple[str, ...]) -> Iterator[Line]:
    """``count`` messages of a chat among ``senders``, a few seconds to a few hours apart."""
    rng = random.Random(seed)
    when = START
    for n in range(count):
        when += timedelta(seconds=rng.choice((5, 20, 60, 300, 900, 3600, 14_400)) + rng.randint(0, 59))
        kind, sender = _pick_kind(rng), rng.choice(senders)
        if kind == "notice":
            yield Line(when, "", f"{sender} added {rng.choice(PEOPLE)}")
            continue
        pool = {"chatter": CHATTER, "multiline": MULTILINE, "media": ("",), "official": OFFICIAL}[kind]
        text = _fill(rng, rng.choice(pool))
        if n % RARE_EVERY == RARE_EVERY // 2:
            text += f" re {RARE_WORD} shipment"
        yield Line(when, sender, text, media=kind == "media")


def _android_stamp(when: datetime) -> str:
    hour = when.hour % 12 or 12
    return f"{when.month}/{when.day}/{when.year % 100:02d}, {hour}:{when.minute:02d} {'AM' if when.hour < 12 else 'PM'}"


def _android_24h(when: datetime) -> str:
    return f"{when:%d/%m/%Y, %H:%M}"


def write_android(path: Path, count: int, seed: int = SEED,
                  stamp_of: Callable[[datetime], str] = _android_stamp) -> int:
    """A WhatsApp Android group chat export (US 12-hour stamps unless ``stamp_of`` says otherwise);
    returns the number of messages written."""
    with path.open("w", encoding="utf-8", newline="\n") as out:
        out.write(f"{stamp_of(START)} - {ANDROID_NOTICE}\n")
        for line in lines(count - 1, seed, (CUSTODIAN, *PEOPLE[:5])):
            stamp = stamp_of(line.when)
            if not line.sender:
                out.write(f"{stamp} - {line.text}\n")
            else:
                out.write(f"{stamp} - {line.sender}: {'<Media omitted>' if line.media else line.text}\n")
    return count


def write_android_24h(path: Path, count: int, seed: int = SEED) -> int:
    """The same chat as ``write_android`` with day-first 24-hour stamps (``31/12/2024, 21:05 - ``), the
    Android format every WhatsApp parser on PyPI reads; returns the number of messages written."""
    return write_android(path, count, seed, _android_24h)


def write_ios(path: Path, count: int, seed: int = SEED) -> int:
    """A WhatsApp iOS one-to-one chat export; returns the number of messages written."""
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for line in lines(count, seed + 1, (CUSTODIAN, PEOPLE[0])):
            stamp = f"[{line.when:%d/%m/%Y, %H:%M:%S}]"
            if not line.sender:  # iOS writes a notice under the chat's name, behind a direction mark
                out.write(f"{stamp} {PEOPLE[0]}: \u200e{line.text}\n")
            else:
                out.write(f"{stamp} {line.sender}: {IOS_IMAGE if line.media else line.text}\n")
    return count


def write_sms(path: Path, count: int, seed: int = SEED) -> int:
    """An SMS Backup & Restore XML backup; returns the number of messages written."""
    with path.open("w", encoding="utf-8", newline="\n") as out:
        out.write("<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>\n"
                  f'<smses count="{count}" backup_set="bench" backup_date="1735689600000" type="full">\n')
        for n, line in enumerate(lines(count, seed + 2, PEOPLE)):
            millis = int(line.when.timestamp() * 1000)
            out.write(f'  <sms protocol="0" address="+1520555{n % 50:04d}" date="{millis}" '
                      f'type="{1 + n % 2}" subject="null" body={quoteattr(line.text or "(photo)")} '
                      f'read="1" status="-1" locked="0" date_sent="{millis}" sub_id="1" '
                      f'contact_name={quoteattr(line.sender or PEOPLE[0])} />\n')
        out.write("</smses>\n")
    return count


def _address(name: str) -> str:
    return name.split()[0].lower().replace("í", "i").replace("á", "a").replace("ú", "u") + "@example.gov"


def write_mbox(path: Path, count: int, seed: int = SEED) -> int:
    """An mbox of plain-text mail to and from the custodian; returns the number of messages written."""
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for n, line in enumerate(lines(count, seed + 3, PEOPLE)):
            sender = line.sender or PEOPLE[0]
            body = (line.text or "see attached").replace("\nFrom ", "\n>From ")
            out.write(f"From {_address(sender)} {line.when:%a %b %d %H:%M:%S %Y}\n"
                      f"From: {sender} <{_address(sender)}>\nTo: {CUSTODIAN} <jorge.rivera@cbp.example.gov>\n"
                      f"Subject: Port ops {n % 97}\nDate: {format_datetime(line.when)}\n"
                      f"Message-ID: <bench-{seed}-{n}@example.gov>\nMIME-Version: 1.0\n"
                      f"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n{body}\n\n")
    return count


WRITERS: dict[str, tuple[str, Callable[[Path, int, int], int]]] = {
    "android": ("WhatsApp Chat with Port Ops.txt", write_android),
    "android24": ("WhatsApp Chat with Port Ops (24h).txt", write_android_24h),
    "ios": ("WhatsApp Chat with Ana Lopez.txt", write_ios),
    "sms": ("sms-20250101000000.xml", write_sms),
    "mbox": ("mail.mbox", write_mbox),
}


def generate(folder: Path, count: int, seed: int = SEED, formats: tuple[str, ...] = tuple(WRITERS)) -> dict[str, Path]:
    """Write ``count`` messages in each of ``formats`` under ``folder``; returns each format's file."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name in formats:
        filename, write = WRITERS[name]
        write(folder / filename, count, seed)
        written[name] = folder / filename
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--formats", default=",".join(WRITERS), help=f"comma-separated, of {', '.join(WRITERS)}")
    args = parser.parse_args()
    for name, path in generate(args.out, args.messages, args.seed, tuple(args.formats.split(","))).items():
        print(f"{name:<8} {path} {path.stat().st_size / 1e6:,.1f} MB")


if __name__ == "__main__":
    main()
