"""The reading half of an ingest: each message of an export classified, given its id and made
into the document sealed for it, with its keyed references and the attachments to store.

Nothing here writes to the archive. It reads only the archive's keys and what the run read
under its lock before the first file (schedules, recorded events, active holds), so it may
run in a second process (``archiver.services.reader_process``) while the writing half,
``archiver.services.ingest``, seals, stores and catalogs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from archiver.connector import ParsedItem, messages_only
from archiver.core.classify import NONRECORD, Classification, Classifier
from archiver.core.events import Event, event_day, waits_on_event
from archiver.core.forwarding import assess, official_recipients
from archiver.core.identity import MessageId, MessageIdentities
from archiver.core.retention import ScheduleItem, ScheduleSet, assign
from archiver.core.terms import normalize_words
from archiver.errors import Rejection
from archiver.model import Message, canonical_json
from archiver.storage.archive import Archive
from archiver.storage.catalog import Catalog, HoldRow
from archiver.storage.records import LABEL_REVIEW, RecordDocument, record_document

MIN_FINGERPRINT_WORDS = 4
LOOKUP_BATCH = 256  # messages whose ids are looked up in the catalog at once


@dataclass(frozen=True)
class AttachmentObject:
    """An attachment to seal and store, with the terms it is stored under."""

    key: str
    content: bytes
    retain_until: date | None
    held: bool


Prepared = tuple[RecordDocument, MessageId, list[AttachmentObject]]  # what reading an export hands on
_Made = tuple[RecordDocument, list[AttachmentObject], MessageId]  # a document before its keyed references


def already_archived(doc: RecordDocument, label: str | None) -> bool:
    """Whether a message the catalog holds with ``label`` (None: not at all) needs nothing new: a
    record is never replaced, and a nonrecord or review entry is replaced only by a record."""
    return label is not None and not (doc.is_record and label in (NONRECORD, LABEL_REVIEW))


@dataclass
class DocumentMaker:
    """Makes each classified message into its record document (pure, given the run's facts)."""

    archive: Archive
    schedules: ScheduleSet
    custodian: str                    # the custodian's id, as the run files it
    default_schedule: str
    official_patterns: tuple[str, ...]
    events: list[Event]
    holds: list[HoldRow]
    now: datetime

    def reader(self, classifier: Classifier, parse: Callable[[], Iterator[ParsedItem]],
               identities: MessageIdentities, open_catalog: Callable[[], Catalog] | None = None,
               ) -> Callable[[list[Rejection]], Iterator[Prepared]]:
        """Reading one export, its rejections collected apart. ``open_catalog``: a connection of
        the catalog's own for the process that reads, to leave out the blind-index tokens and copy
        references of messages archived before (an officer's re-export repeats the whole chat)."""
        def read(rejections: list[Rejection]) -> Iterator[Prepared]:
            made = ((*self.document(message, classification, identity), identity)
                    for message, classification in classifier.classify_stream(messages_only(parse(), rejections))
                    for identity in (identities.of(message),))
            if open_catalog is None:
                yield from self._keyed(made, lambda ids: {})
                return
            with closing(open_catalog()) as catalog:
                yield from self._keyed(made, catalog.known_labels)
        return read

    def _keyed(self, made: Iterable[_Made],
               known_labels: Callable[[list[str]], dict[str, str]]) -> Iterator[Prepared]:
        """Each document with its keyed references, unless the catalog holds its message already
        (the writer then files it as such and needs none); ids looked up ``LOOKUP_BATCH`` at a time."""
        batch: list[_Made] = []
        try:
            for item in made:
                batch.append(item)
                if len(batch) >= LOOKUP_BATCH:
                    yield from self._keyed_batch(batch, known_labels)
                    batch = []
        except Exception:
            yield from self._keyed_batch(batch, known_labels)  # what was read before an export's error is archived
            raise
        yield from self._keyed_batch(batch, known_labels)

    def _keyed_batch(self, batch: list[_Made],
                     known_labels: Callable[[list[str]], dict[str, str]]) -> Iterator[Prepared]:
        known = known_labels([doc.record_id for doc, _, _ in batch]) if batch else {}
        for doc, attachments, identity in batch:
            if not already_archived(doc, known.get(doc.record_id)):
                doc = RecordDocument(doc.data, self.archive.keyed(doc))
            yield doc, identity, attachments

    def document(self, message: Message, classification: Classification,
                 identity: MessageId) -> tuple[RecordDocument, list[AttachmentObject]]:
        """The document of one message, and its attachments to store."""
        record_id, occurrence, content_hash = identity.record_id, identity.occurrence, identity.content_hash
        if classification.label != "record" and classification.review:
            expires = (self.now + timedelta(days=self.archive.settings.review_days)).date()
            keys, objects = self._attachment_objects(message, expires)
            return record_document(record_id, occurrence, content_hash, message, classification, None, None,
                                   keys, self.now, review_expires=expires), objects
        if classification.label != "record":
            return record_document(record_id, occurrence, content_hash, message, classification,
                                   None, None, None, self.now), []
        item = self.schedules.get(classification.schedule or self.default_schedule)
        disposition = assign(item, message.sent_at, event_day(self.events, message.custodian, item))
        official = official_recipients(message.recipients, self.official_patterns)
        forwarding = assess(account=message.account, created=message.sent_at, archived_at=self.now,
                            official_copied=bool(official))
        keys, objects = self._attachment_objects(message, *store_terms(item, disposition.retain_until, self.now))
        return record_document(record_id, occurrence, content_hash, message, classification,
                               disposition, forwarding, keys, self.now, self._fingerprint(message)), objects

    def _fingerprint(self, message: Message) -> str | None:
        """Keyed hash of the normalized text, to recognise the same message from another source."""
        words = normalize_words(message.body)
        if len(words) < MIN_FINGERPRINT_WORDS:
            return None  # "ok" or "yes" in two apps are not the same message
        return self.archive.id_hash.hex(canonical_json(["fingerprint", self.custodian, words]))

    def _attachment_objects(self, message: Message, retain_until: date | None,
                            waiting: bool = False) -> tuple[list[str | None], list[AttachmentObject]]:
        """Each attachment's object key (None when the export lacks its file), and the objects to store."""
        held = waiting or any(h.covers(self.custodian, message.sent_at) for h in self.holds)
        keys: list[str | None] = []
        objects: list[AttachmentObject] = []
        for attachment in message.attachments:
            if attachment.content is None or attachment.sha256 is None:
                keys.append(None)
                continue
            key = "att/" + self.archive.name_hash.hex(attachment.sha256.encode(), 64)
            objects.append(AttachmentObject(key, attachment.content, retain_until, held))
            keys.append(key)
        return keys, objects


def store_terms(item: ScheduleItem | None, retain_until: date | None, now: datetime) -> tuple[date | None, bool]:
    """The retain-until and legal hold an object of records with ``retain_until`` under ``item`` is
    written with. Records waiting on an event get no lock (a lock is never shortened, and the event
    may make them due at once) but the store's legal hold, which recording the event lifts."""
    if retain_until is None and item is not None and waits_on_event(item):
        return now.date(), True
    return retain_until, False
