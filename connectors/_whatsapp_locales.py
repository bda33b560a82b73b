"""What WhatsApp writes in each language, and which date order each time zone's phones use.

Pure data, read once when the WhatsApp connector is imported. Adding a language is adding
a ``Phrases`` entry; nothing else changes. The strings are WhatsApp's own (Android and iOS
exports), checked against real exports and public export readers; where a wording changed
between app versions, both are listed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

# Kinds of media an iOS placeholder names ("image omitted"); whatsapp.py gives each its type.
IMAGE, VIDEO, AUDIO, STICKER = "image", "video", "audio", "sticker"
GIF, DOCUMENT, CONTACT = "gif", "document", "contact"


@dataclass(frozen=True)
class Phrases:
    """One language's media placeholders and app notices, as WhatsApp exports them."""

    omitted: Mapping[str, str]  # iOS, ending the body: "image omitted" -> kind
    deleted: tuple[str, ...]  # the whole body of a deleted message (a final "." optional)
    notices: tuple[str, ...]  # a body opening so is an app notice: banners, missed calls, security codes
    media_omitted: tuple[str, ...] = ()  # Android, the whole body inside <...> or ‹...›: "<Media omitted>"
    file_attached: tuple[str, ...] = ()  # Android: "IMG-20241207-WA0005.jpg (file attached)"
    attached: tuple[str, ...] = ()  # iOS: "<attached: 00000012-PHOTO-2024-12-07-10-00-01.jpg>"
    events: tuple[str, ...] = ()  # group events, found inside a notice: joined, left, subject


LANGUAGES: Final[Mapping[str, Phrases]] = {
    "English": Phrases(
        media_omitted=("Media omitted", "Video note omitted"),
        omitted={"image omitted": IMAGE, "video omitted": VIDEO, "audio omitted": AUDIO, "sticker omitted": STICKER,
                 "GIF omitted": GIF, "document omitted": DOCUMENT, "Contact card omitted": CONTACT},
        file_attached=("file attached",),
        attached=("attached",),
        deleted=("This message was deleted", "You deleted this message"),
        notices=("Messages and calls are end-to-end encrypted",
                 "Messages to this group are now secured", "Messages you send to this group are now secured",
                 "Messages to this chat are now secured", "Messages you send to this chat are now secured",
                 "Messages to this chat and calls are now secured",
                 "Messages you send to this chat and calls are now secured",
                 "Messages to this group and calls are now secured",
                 "Messages you send to this group and calls are now secured",
                 "Waiting for this message", "Missed voice call", "Missed video call",
                 "Missed group voice call", "Missed group video call"),
        events=(" changed the subject", " changed the group name", " created group", " created this group",
                " changed this group's icon", " changed the group description"),
    ),
    "Spanish": Phrases(
        media_omitted=("Multimedia omitido", "Archivo omitido", "Medios omitidos"),
        omitted={"imagen omitida": IMAGE, "imagen omitido": IMAGE, "video omitido": VIDEO, "audio omitido": AUDIO,
                 "sticker omitido": STICKER, "GIF omitido": GIF, "documento omitido": DOCUMENT,
                 "tarjeta de contacto omitida": CONTACT},
        file_attached=("archivo adjunto",),
        attached=("adjunto",),
        deleted=("Se eliminó este mensaje", "Eliminaste este mensaje", "Este mensaje fue eliminado"),
        notices=("Los mensajes y las llamadas están cifrados de extremo a extremo", "Esperando este mensaje",
                 "Esperando el mensaje", "Llamada de voz perdida", "Videollamada perdida",
                 "Tu código de seguridad con"),
        events=(" añadió a ", " te añadió", " salió del grupo", " salió", " se unió usando el enlace de invitación",
                " cambió el asunto", " cambió el nombre del grupo", " cambió el ícono de este grupo",
                " cambió la imagen de este grupo", " creó el grupo", " eliminó a "),
    ),
    "Portuguese": Phrases(  # Brazil and Portugal
        media_omitted=("Mídia oculta", "Mídia omitida", "Arquivo de mídia oculto", "Multimédia omitido",
                       "Multimédia omitida"),
        omitted={"imagem ocultada": IMAGE, "imagem omitida": IMAGE, "vídeo omitido": VIDEO, "vídeo ocultado": VIDEO,
                 "áudio ocultado": AUDIO, "áudio omitido": AUDIO, "figurinha omitida": STICKER,
                 "autocolante omitido": STICKER, "GIF omitido": GIF, "documento omitido": DOCUMENT,
                 "cartão de contato omitido": CONTACT, "cartão de contacto omitido": CONTACT,
                 "imagem não revelada": IMAGE, "vídeo não revelado": VIDEO, "ficheiro de áudio não revelado": AUDIO,
                 "sticker não revelado": STICKER, "GIF não revelada": GIF, "documento não revelado": DOCUMENT,
                 "Contacto não revelado": CONTACT},
        file_attached=("arquivo anexado", "ficheiro anexado"),
        attached=("anexado", "anexo"),
        deleted=("Mensagem apagada", "Esta mensagem foi apagada", "Você apagou esta mensagem",
                 "Esta mensagem foi eliminada", "Eliminou esta mensagem", "Apagou esta mensagem"),
        notices=("As mensagens e as chamadas são protegidas com a criptografia de ponta a ponta",
                 "As mensagens e ligações são protegidas com a criptografia de ponta a ponta",
                 "As mensagens e as ligações são protegidas com a criptografia de ponta a ponta",
                 "As mensagens e chamadas estão protegidas com encriptação ponto a ponto",
                 "As mensagens e chamadas são encriptadas ponto a ponto",
                 "Aguardando mensagem", "A aguardar esta mensagem",
                 "Chamada de voz perdida", "Chamada de vídeo perdida", "Ligação de voz perdida",
                 "Videochamada perdida", "Seu código de segurança com", "O seu código de segurança com"),
        events=(" adicionou ", " saiu", " entrou usando o link de convite", " entrou através da ligação de convite",
                " mudou o assunto", " alterou o assunto", " mudou a imagem deste grupo",
                " alterou a imagem deste grupo",
                " criou o grupo", " removeu "),
    ),
    "French": Phrases(
        media_omitted=("Médias omis", "Média omis", "Fichier omis"),
        omitted={"image absente": IMAGE, "image omise": IMAGE, "vidéo absente": VIDEO, "vidéo omise": VIDEO,
                 "audio omis": AUDIO, "audio absent": AUDIO, "autocollant omis": STICKER, "sticker omis": STICKER,
                 "GIF retiré": GIF, "GIF omis": GIF, "document manquant": DOCUMENT, "document omis": DOCUMENT,
                 "Fiche contact manquante": CONTACT, "fiche contact omise": CONTACT},
        file_attached=("fichier joint",),
        attached=("pièce jointe", "joint"),
        deleted=("Ce message a été supprimé", "Vous avez supprimé ce message"),
        notices=("Les messages et les appels sont chiffrés de bout en bout", "En attente de ce message",
                 "Appel vocal manqué", "Appel vidéo manqué", "Votre code de sécurité avec"),
        events=(" a ajouté ", " est parti", " a quitté", " a rejoint", " s'est joint", " a changé le sujet",
                " a modifié le sujet", " a changé l'icône de ce groupe", " a créé le groupe", " a retiré "),
    ),
    "German": Phrases(
        media_omitted=("Medien ausgelassen", "Medien weggelassen", "Medien ausgeschlossen"),
        omitted={"Bild weggelassen": IMAGE, "Bild ausgelassen": IMAGE, "Video weggelassen": VIDEO,
                 "Video ausgelassen": VIDEO, "Audio weggelassen": AUDIO, "Audio ausgelassen": AUDIO,
                 "Sticker weggelassen": STICKER, "Sticker ausgelassen": STICKER, "GIF weggelassen": GIF,
                 "GIF ausgelassen": GIF, "Dokument weggelassen": DOCUMENT, "Dokument ausgelassen": DOCUMENT,
                 "Kontaktkarte weggelassen": CONTACT, "Kontaktkarte ausgelassen": CONTACT},
        file_attached=("Datei angehängt",),
        attached=("Anhang", "angehängt"),
        deleted=("Diese Nachricht wurde gelöscht", "Du hast diese Nachricht gelöscht",
                 "Sie haben diese Nachricht gelöscht"),
        notices=("Nachrichten und Anrufe sind Ende-zu-Ende-verschlüsselt", "Warte auf diese Nachricht",
                 "Verpasster Sprachanruf", "Verpasster Videoanruf", "Deine Sicherheitsnummer für",
                 "Dein Sicherheitscode für"),
        events=(" hinzugefügt", " hat die Gruppe verlassen", " ist über den Einladungslink", " hat den Betreff",
                " hat das Gruppenbild geändert", " hat die Gruppe", " entfernt"),
    ),
    "Italian": Phrases(
        media_omitted=("Media omessi",),
        omitted={"immagine omessa": IMAGE, "video omesso": VIDEO, "audio omesso": AUDIO, "sticker omesso": STICKER,
                 "sticker non incluso": STICKER, "GIF esclusa": GIF, "GIF omessa": GIF, "documento omesso": DOCUMENT,
                 "scheda contatto omessa": CONTACT},
        file_attached=("file allegato",),
        attached=("allegato",),
        deleted=("Questo messaggio è stato eliminato", "Hai eliminato questo messaggio"),
        notices=("I messaggi e le chiamate sono crittografati end-to-end", "In attesa di questo messaggio",
                 "Chiamata vocale persa", "Videochiamata persa", "Il tuo codice di sicurezza con"),
        events=(" ha aggiunto ", " è uscito", " ha abbandonato", " si è unito tramite il link d'invito",
                " si è unito tramite il link di invito", " ha cambiato l'oggetto", " ha modificato l'oggetto",
                " ha cambiato l'immagine di questo gruppo", " ha creato il gruppo", " ha rimosso "),
    ),
    "Dutch": Phrases(
        media_omitted=("Media weggelaten",),
        omitted={"afbeelding weggelaten": IMAGE, "video weggelaten": VIDEO, "audio weggelaten": AUDIO,
                 "sticker weggelaten": STICKER, "GIF weggelaten": GIF, "document weggelaten": DOCUMENT,
                 "contactkaart weggelaten": CONTACT},
        file_attached=("bestand bijgevoegd",),
        attached=("bijgevoegd", "bijlage"),
        deleted=("Dit bericht is verwijderd", "Je hebt dit bericht verwijderd", "U hebt dit bericht verwijderd"),
        notices=("Berichten en oproepen worden end-to-end versleuteld", "Berichten en gesprekken zijn end-to-end",
                 "Wachten op dit bericht", "Gemiste spraakoproep", "Gemiste video-oproep", "Gemist spraakgesprek",
                 "Gemist videogesprek", "Je beveiligingscode met"),
        events=(" toegevoegd", " heeft de groep verlaten", " is lid geworden via de uitnodigingslink",
                " heeft het groepsonderwerp", " heeft de groepsafbeelding", " heeft de groep", " verwijderd"),
    ),
    "Turkish": Phrases(
        media_omitted=("Medya dahil edilmedi", "Medya atlandı"),
        omitted={"görüntü dahil edilmedi": IMAGE, "video dahil edilmedi": VIDEO, "ses dahil edilmedi": AUDIO,
                 "çıkartma dahil edilmedi": STICKER, "GIF dahil edilmedi": GIF, "belge dahil edilmedi": DOCUMENT,
                 "kişi kartı dahil edilmedi": CONTACT},
        file_attached=("dosya ekli", "dosya eklendi"),
        attached=("ek", "eklendi"),
        deleted=("Bu mesaj silindi", "Bu mesajı sildiniz", "Bu mesajı sildin"),
        notices=("Mesajlar ve aramalar uçtan uca şifrelidir", "Bu mesaj bekleniyor", "Cevapsız sesli arama",
                 "Cevapsız görüntülü arama", "Güvenlik kodunuz"),
        events=(" ekledi", " ayrıldı", " katıldı", " konuyu", " grup simgesini", " grubunu oluşturdu",
                " grubu oluşturdu", " çıkardı"),
    ),
    "Russian": Phrases(  # iOS exports only, so far
        omitted={"изображение отсутствует": IMAGE, "видео отсутствует": VIDEO, "аудиофайл отсутствует": AUDIO,
                 "стикер не добавлен": STICKER, "GIF отсутствует": GIF, "документ отсутствует": DOCUMENT,
                 "Карточка контакта отсутствует": CONTACT},
        deleted=("Данное сообщение удалено", "Вы удалили данное сообщение"),
        notices=("Сообщения и звонки защищены сквозным шифрованием",),
    ),
    "Czech": Phrases(  # iOS exports only, so far
        omitted={"obrázek vynechán": IMAGE, "video vynecháno": VIDEO, "zvukový soubor vynechán": AUDIO,
                 "nálepka vynechána": STICKER, "GIF vynechán": GIF, "dokument vynechán": DOCUMENT,
                 "Vizitka vynechána": CONTACT},
        deleted=("Tato zpráva byla smazána", "Tuto zprávu jste smazal/a"),
        notices=("Zprávy a hovory jsou opatřeny koncovým šifrováním",
                 "Zprávy a hovory jsou zabezpečeny koncovým šifrováním"),
    ),
}  # fmt: skip

# The order of day and month that phones in a time zone usually write: a tie-breaker only,
# when nothing in an export tells. A key ending in "/" covers its whole area.
ZONE_DATE_ORDERS: Final[Mapping[str, str]] = {
    "America/New_York": "mdy", "America/Chicago": "mdy", "America/Denver": "mdy", "America/Phoenix": "mdy",
    "America/Los_Angeles": "mdy", "America/Anchorage": "mdy", "America/Detroit": "mdy", "America/Boise": "mdy",
    "America/Indiana/": "mdy", "America/Kentucky/": "mdy", "America/North_Dakota/": "mdy", "Pacific/Honolulu": "mdy",
    "Pacific/Guam": "mdy", "Asia/Manila": "mdy",
    "Europe/": "dmy", "Australia/": "dmy", "America/Argentina/": "dmy", "America/Mexico_City": "dmy",
    "America/Monterrey": "dmy", "America/Tijuana": "dmy", "America/Hermosillo": "dmy", "America/Cancun": "dmy",
    "America/Chihuahua": "dmy", "America/Guatemala": "dmy", "America/El_Salvador": "dmy",
    "America/Tegucigalpa": "dmy", "America/Managua": "dmy", "America/Costa_Rica": "dmy", "America/Havana": "dmy",
    "America/Santo_Domingo": "dmy", "America/Bogota": "dmy", "America/Caracas": "dmy", "America/Lima": "dmy",
    "America/Guayaquil": "dmy", "America/La_Paz": "dmy", "America/Santiago": "dmy", "America/Asuncion": "dmy",
    "America/Montevideo": "dmy", "America/Sao_Paulo": "dmy", "America/Fortaleza": "dmy", "America/Recife": "dmy",
    "America/Bahia": "dmy", "America/Manaus": "dmy", "America/Belem": "dmy",
}  # fmt: skip
