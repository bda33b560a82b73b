"""The opened archive: store, catalog and keys built once from the settings."""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from archiver.config import CONFIG_FILE, Settings
from archiver.core.identity import copy_material, sender_material
from archiver.core.terms import INDEX_VERSION, json_terms
from archiver.errors import IntegrityError, KeyProviderError, ObjectNotFoundError, ReadOnlyArchiveError, UsageError
from archiver.model import canonical_json, parse_instant
from archiver.readers.scratch import remove_abandoned
from archiver.storage import segments
from archiver.storage.audit import AuditEvent
from archiver.storage.catalog import Catalog, open_catalog
from archiver.storage.envelope import open_sealed, seal
from archiver.storage.keyed import BlindIndex, KeyedHash
from archiver.storage.keys import (
    PURPOSE_AUDIT,
    PURPOSE_BLIND_INDEX,
    PURPOSE_MESSAGE_ID,
    PURPOSE_NAMES,
    KeyProvider,
    LocalKeyProvider,
    is_kms_url,
    local_key_path,
    open_key_provider,
)
from archiver.storage.keys.signing import ensure_signing_key
from archiver.storage.records import Keyed, RecordDocument
from archiver.storage.sealed_facts import HEAD_EVERY, AuditHead, write_head
from archiver.storage.store import LocalDirStore, ObjectStore, open_store

# A sealed known text: opening it proves the master key is the archive's own. The key id alone
# does not: a key file can carry a copied id with another secret, and would store everything anew.
KEY_CHECK = "keys/key-check"
KEY_CHECK_TEXT = b"archiver master key check v1"

INITIAL_CONFIG = """\
# archiver configuration. Every key can be overridden by an ARCHIVER_* environment variable
# (ARCHIVER_STORE, ARCHIVER_CATALOG, ARCHIVER_KEY, ARCHIVER_TIMEZONE, ...).
store: archive                               # object store: a directory
catalog: sqlite:///archive/catalog.sqlite    # record catalog
key: file://archiver.key                     # master key file (keep it apart from backups of archive/)
# timezone: America/New_York                 # zone for exports that carry local times
# official_accounts: ["*@*.gov", "*@*.mil"]  # recipients that make a message "copied" (2911)
# default_role: official                     # capstone | official | support (GRS 6.1 item)
# records_officer: records.officer@agency.gov # told of late records and custodians at risk
# notifier: mailfile://notices               # or smtp://relay:25, sns://TOPIC-ARN, ses://REGION
# notice_sender: records-archiver@agency.gov
# reminder_days: [14, 18]                    # remind officers this many days after their last sync
# Custodians are registered with 'archiver custodian add'.
"""


@dataclass
class Archive:
    """Everything a service needs to read or write the archive."""

    settings: Settings
    store: ObjectStore
    catalog: Catalog
    keys: KeyProvider
    id_hash: KeyedHash
    blind_index: BlindIndex
    name_hash: KeyedHash
    audit_key: bytes
    read_only: bool = False

    @classmethod
    def open(cls, settings: Settings, read_only: bool = False) -> Archive:
        """Open the configured store, catalog and key provider.

        ``read_only``: the command only reads (verify, reports, listings), so the SQLite catalog
        is opened read-only and a fully read-only archive still answers. Otherwise a store folder
        or catalog that cannot be written is refused here, before anything is written.
        """
        # A KMS archive keeps its derivation root in the store; a key file is checked before the
        # store is touched, so a mistyped folder leaves nothing behind.
        kms = is_kms_url(settings.key)
        store = open_store(settings.store, settings.base_dir) if kms else None
        keys = open_key_provider(settings.key, settings.base_dir, store)
        store = store or open_store(settings.store, settings.base_dir)
        for area in (temp_area(settings.store, store), Path(tempfile.gettempdir())):
            remove_abandoned(area)  # plaintext copies of exports left by a killed command
        if not read_only and isinstance(store, LocalDirStore):
            store.check()
        catalog = open_catalog(settings.catalog, settings.base_dir, read_only=read_only)
        try:
            catalog.bind_key(keys.key_id)  # a new key on an old archive would store everything again
            check_master_key(settings.key, store, catalog, keys, write=not read_only)
            audit_key = keys.derive(PURPOSE_AUDIT)
            catalog.use_audit_key(audit_key)
        except BaseException:
            catalog.close()
            raise
        return cls(settings=settings,
                   store=store,
                   catalog=catalog,
                   keys=keys,
                   id_hash=KeyedHash(keys.derive(PURPOSE_MESSAGE_ID)),
                   blind_index=BlindIndex(KeyedHash(keys.derive(PURPOSE_BLIND_INDEX))),
                   name_hash=KeyedHash(keys.derive(PURPOSE_NAMES)),
                   audit_key=audit_key,
                   read_only=read_only)

    def __post_init__(self) -> None:
        self._conversation_refs: dict[tuple[str, str], str] = {}
        self._sender_refs: dict[str, str] = {}
        self.audit_hash = KeyedHash(self.audit_key)
        self._head_at_open = self.catalog.audit_head()[0]
        self._head_written: AuditHead | None = None

    def checkpoint_audit(self, every: int = HEAD_EVERY) -> None:
        """Seal the audit chain's head into the store once ``every`` entries have been added since
        the last head this process wrote (0: whenever the chain moved)."""
        seq = self.catalog.audit_head()[0]
        last = self._head_written.seq if self._head_written else self._head_at_open
        if seq > last and seq - last >= every:
            self._head_written = write_head(self, self._head_written)

    def conversation_ref(self, source: str, conversation: str) -> str:
        """Keyed hash naming a conversation in the catalog without its title (memoized)."""
        key = (source, conversation)
        ref = self._conversation_refs.get(key)
        if ref is None:
            ref = self._conversation_refs[key] = self.name_hash.hex(canonical_json([source, conversation]))
        return ref

    def index_tokens(self, message: dict[str, Any]) -> list[str]:
        """The blind-index tokens of one sealed message, as ingest and reindex add them and
        destruction removes them."""
        return self.blind_index.tokens(json_terms(message))

    def keyed(self, doc: RecordDocument) -> Keyed:
        """The blind-index tokens and copy references of a document's message (those computed
        when it was read, if any)."""
        return doc.keyed or Keyed(self.index_tokens(doc.message), self.copy_refs(doc.message))

    def copy_refs(self, message: dict[str, Any]) -> tuple[str | None, str | None]:
        """Keyed references that find one message's copies in other custodians' exports
        (``report gaps``): its sender's and the copy's; (None, None) for an app notice."""
        material = copy_material(message["source"], parse_instant(message["sent_at"]), message["body"],
                                 message["system"])
        return (None, None) if material is None else (self.sender_ref(message["sender"]), self.name_hash.hex(material))

    def sender_ref(self, handle: str) -> str:
        """The keyed reference of a sender's handle, as ``copy_refs`` stores it (memoized: an
        export has few senders)."""
        ref = self._sender_refs.get(handle)
        if ref is None:
            ref = self._sender_refs[handle] = self.name_hash.hex(sender_material(handle))
        return ref

    @property
    def temp_dir(self) -> Path:
        """Where connectors keep private copies of exports while they read them (``archiver.readers.scratch``)."""
        return temp_area(self.settings.store, self.store)

    def file_ref(self, name: str) -> str:
        """Keyed hash naming an export file or zip member: file names carry chat titles and names."""
        return "file:" + self.name_hash.hex(name.encode(), 24)

    def close(self) -> None:
        """Seal the audit head if this process added entries (so truncation shows), then close."""
        try:
            self.checkpoint_audit(every=0)
        finally:
            self.catalog.close()


def temp_area(store_url: str, store: ObjectStore) -> Path:
    """The archive's temp area: ``.tmp`` in a local store's folder; for S3, a folder of the
    system temp dir named by a hash of the store URL, so each archive sweeps its own."""
    if isinstance(store, LocalDirStore):
        return store.root / ".tmp"
    return Path(tempfile.gettempdir()) / f"archiver-{hashlib.sha256(store_url.encode()).hexdigest()[:16]}"


def check_master_key(url: str, store: ObjectStore, catalog: Catalog, keys: KeyProvider, write: bool) -> None:
    """Refuse (exit 2) a master key that does not open the archive, before anything is written.

    The check object is sealed at the first write; an archive from before it is checked against
    the first frame of a stored segment instead (before a write only: a damaged frame must not
    keep ``verify`` from reporting it), so a wrong key never seals the check object.
    """
    wrong = f"{url}: this master key does not open the archive (its key id {keys.key_id} matches, its secret does not)"
    try:
        check = store.get(KEY_CHECK)
    except ObjectNotFoundError:
        check = None
    if check is not None:
        if not _opens(keys, KEY_CHECK, check):
            raise KeyProviderError(f"{wrong}; restore the archive's own key")
        return
    if not write:
        return
    sample = _first_frame(store, catalog)
    if sample is not None and not _opens(keys, *sample):
        raise KeyProviderError(f"{wrong}, or its first segment is damaged (run 'archiver verify'); nothing was written")
    store.put(KEY_CHECK, seal(keys, KEY_CHECK, KEY_CHECK_TEXT), None)


def _opens(keys: KeyProvider, object_id: str, envelope: bytes) -> bool:
    try:
        open_sealed(keys, object_id, envelope)
    except IntegrityError:
        return False
    return True


def _first_frame(store: ObjectStore, catalog: Catalog) -> tuple[str, bytes] | None:
    """The record id and envelope of the first frame of a stored segment, if there is one."""
    for segment in catalog.segments():
        if segment.disposed_at is None and store.exists(segment.name):
            for ref, envelope in segments.iter_frames(store.get(segment.name), segment.name):
                return ref.record_id, envelope
    return None


@dataclass(frozen=True)
class InitResult:
    """What ``init`` created or found."""

    directory: Path
    config_created: bool
    key_created: bool
    key_id: str
    signing_key: str | None = None  # the fingerprint of an export-signing key made by this run


def init_archive(directory: Path, settings: Settings, actor: str = "archiver",
                 at: datetime | None = None) -> InitResult:
    """Create the folder, its configuration, key (file, or KMS derivation root), export-signing key,
    store and catalog (idempotent); ``actor`` and ``at`` go in the audit entry of a new signing key."""
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory}: exists and is not a folder")
    config = directory / CONFIG_FILE
    config_created = not config.exists()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if config_created:
            config.write_text(INITIAL_CONFIG, encoding="utf-8")
    except OSError as exc:
        raise ReadOnlyArchiveError(f"archive folder {directory} is read-only: cannot write {config.name} "
                                   f"({exc.strerror})") from None
    open_catalog(settings.catalog, settings.base_dir, create=True).close()  # creates a missing DynamoDB table
    key_path = local_key_path(settings.key, settings.base_dir)
    key_created = False
    if key_path is not None and not key_path.exists():
        _refuse_new_key_for_old_archive(settings, f"{key_path}: key file missing", "restore that key file")
        LocalKeyProvider.create(key_path)
        key_created = True
    elif is_kms_url(settings.key):
        # Imported here so that archives on a key file never import boto3.
        from archiver.storage.keys.kms import ROOT_KEY, KmsKeyProvider

        store = open_store(settings.store, settings.base_dir)
        if not store.exists(ROOT_KEY):
            _refuse_new_key_for_old_archive(settings, f"{settings.key}: the KMS derivation root {ROOT_KEY} is "
                                            "missing from the store", f"restore {ROOT_KEY}")
            KmsKeyProvider.create(settings.key, store)
            key_created = True
    archive = Archive.open(settings)
    try:
        archive.store.check()  # a bucket without versioning or Object Lock is refused before any use
        if archive.catalog.index_version() is None:  # a new archive; an older one keeps its version until reindexed
            archive.catalog.set_index_version(INDEX_VERSION)
        signing_key = ensure_signing_key(settings.key, settings.base_dir, archive.store)
        if signing_key is not None:  # an archive made before case packages gets its key when init runs again
            archive.catalog.append_audit(AuditEvent(actor, "export-key-create", at or datetime.now(timezone.utc),
                                                    {"fingerprint": signing_key}))
    finally:
        archive.close()
    return InitResult(directory, config_created, key_created, archive.keys.key_id, signing_key)


def _refuse_new_key_for_old_archive(settings: Settings, what_is_missing: str, remedy: str) -> None:
    catalog = open_catalog(settings.catalog, settings.base_dir)
    try:
        bound = catalog.bound_key()
    finally:
        catalog.close()
    if bound:
        raise KeyProviderError(f"{what_is_missing}, but the archive was created with key {bound}; "
                               f"{remedy} (a new key could not read the archive)")
