"""WhatsApp exports written in other languages: media placeholders, attachments and app notices.

Each fixture in tests/fixtures/whatsapp/languages is a short chat in one language: line 1 the
encryption banner, 2 a media placeholder, 3 a named attachment, 4 a deleted message, 5 text
and 6 a group event.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from archiver.connector import ParseContext
from archiver.model import FLAG_ATTACHMENT_MISSING, FLAG_DELETED, Message
from connectors._whatsapp_locales import LANGUAGES
from connectors.whatsapp import WhatsAppConnector

LANGUAGE_DIR = Path(__file__).resolve().parent / "fixtures" / "whatsapp" / "languages"
NAMED = {"IMG-20240314-WA0001.jpg", "00000003-PHOTO-2024-03-14-09-02-00.jpg"}


def messages(path: Path) -> list[Message]:
    context = ParseContext(custodian="mvega", custodian_names=("Marisol Vega",), tz=ZoneInfo("Europe/Madrid"))
    items = list(WhatsAppConnector().parse(path, context))
    assert all(isinstance(item, Message) for item in items), items
    return [item for item in items if isinstance(item, Message)]


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "chat.txt"
    path.write_text(f"[14/03/2024, 09:00:00] Brian Okafor: {body}\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "name",
    ["english", "spanish", "portuguese_br_ios", "portuguese_pt", "french", "german", "german_ios", "italian",
     "dutch", "turkish", "turkish_ios"],
)  # fmt: skip
def test_language(name: str) -> None:
    banner, omitted, attached, deleted, text, event = messages(LANGUAGE_DIR / f"{name}.txt")
    assert banner.system and not banner.attachments
    assert [a.missing for a in omitted.attachments] == [True] and FLAG_ATTACHMENT_MISSING in omitted.flags
    assert [a.name for a in attached.attachments] == [a.name for a in attached.attachments if a.name in NAMED] != []
    assert attached.attachments[0].media_type == "image/jpeg" and not attached.system
    assert deleted.system and FLAG_DELETED in deleted.flags
    assert not text.system and not text.flags and text.sender == "Marisol Vega"
    assert event.system


@pytest.mark.parametrize(
    ("placeholder", "media_type"),
    [("imagem ocultada", "image/jpeg"), ("vídeo omitido", "video/mp4"), ("áudio ocultado", "audio/ogg"),
     ("figurinha omitida", "image/webp"), ("görüntü dahil edilmedi", "image/jpeg"), ("Bild weggelassen", "image/jpeg"),
     ("immagine omessa", "image/jpeg"), ("afbeelding weggelaten", "image/jpeg"), ("image absente", "image/jpeg"),
     ("imagen omitida", "image/jpeg"), ("document omitted", None), ("GIF omitido", "video/mp4")],
)  # fmt: skip
def test_ios_placeholders(tmp_path: Path, placeholder: str, media_type: str | None) -> None:
    (found,) = messages(write(tmp_path, f"\u200e{placeholder}"))
    assert [(a.missing, a.media_type) for a in found.attachments] == [(True, media_type)]


@pytest.mark.parametrize("placeholder", ["<Media omitted>", "<Media weggelaten>", "\u2039Médias omis\u203a"])
def test_android_placeholder_with_a_caption(tmp_path: Path, placeholder: str) -> None:
    path = tmp_path / "chat.txt"
    path.write_text(f"14/03/2024, 09:01 - Brian Okafor: {placeholder}\nPlate BCN-20-417\n", encoding="utf-8")
    (found,) = messages(path)
    assert found.body == f"{placeholder}\nPlate BCN-20-417"
    assert [a.missing for a in found.attachments] == [True] and FLAG_ATTACHMENT_MISSING in found.flags


@pytest.mark.parametrize(
    "body", ["Bild weggelassen ist ein Wort", "ok <Medien ausgelassen> ok", "Der Bild weggelassen\nweiter"]
)
def test_placeholder_words_inside_text_are_text(tmp_path: Path, body: str) -> None:
    (found,) = messages(write(tmp_path, body))
    assert found.attachments == () and not found.system


def test_every_language_names_placeholders_deletions_and_banners() -> None:
    for language, phrases in LANGUAGES.items():
        assert phrases.omitted and phrases.deleted and phrases.notices, language
