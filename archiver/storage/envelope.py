"""Envelope encryption of one object: AES-256-GCM under its own data key.

Layout (all integers big-endian)::

    b"ARCV" | version u8 | len(key_id) u8 | key_id | len(wrapped) u16 | wrapped key | nonce(12)
    | ciphertext+tag

The associated data is the whole header followed by the object id, so an envelope opened
under another id fails: objects cannot be swapped, and the key provider binds the wrapped
data key to the same id.

Version 1 seals the plaintext as it is. Version 2 deflates it first (raw DEFLATE, primed with
``DEFLATE_DICTIONARY``): a record document of 1,500 bytes becomes about 400. The version byte is
part of the authenticated header, so an envelope cannot be passed off as the other version.
"""

from __future__ import annotations

import os
import struct
import zlib

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from archiver.errors import IntegrityError, KeyProviderError
from archiver.storage.keys import NONCE_SIZE, KeyProvider

MAGIC = b"ARCV"
VERSION = 1           # the plaintext, sealed as it is
VERSION_DEFLATED = 2  # the plaintext deflated with DEFLATE_DICTIONARY, then sealed
_WINDOW = -15         # raw DEFLATE: no zlib header or checksum, GCM already authenticates

# The strings every record document and manifest repeats, so that even a lone small document
# compresses. Frozen: envelopes of version 2 open only with these exact bytes (a test pins
# their digest); a better dictionary needs a new version number. No message content is here.
DEFLATE_DICTIONARY = (
    b'{"count":1000,"custodian":"","format":"archiver-segment-manifest","records":{"":{"attachments":[],'
    b'"custodian":"","days_late":0,"deadline":null,"disposition_date":null,"forwarding_status":"not_applicable",'
    b'"label":"review","length":1200,"offset":0,"schedule":null,"segment":"review/indefinite/","sent_at":"'
    b'"retain_until":null,"schedule":"UNSCHEDULED","segment":"seg/indefinite/","version":1}'
    b'"forwarding_status":"copied","forwarding_status":"forwarded","forwarding_status":"late",'
    b'"label":"nonrecord","label":"record",'
    b'"reason":"archived 2026-01-01T00:00:00.000000Z, within 20 days of creation (deadline '
    b'2026-01-21T00:00:00Z; 44 U.S.C. 2911(a)(2))","status":"forwarded"},'
    b'"reason":"an official account was copied at creation (44 U.S.C. 2911(a)(1))","status":"copied"},'
    b'"reason":": cut off at end of calendar year 2026, destroy 3 years after cutoff -> 2030-01-01",'
    b'"reason":": cut off at end of FY2026, transfer 15 years after cutoff -> 2042-01-01",'
    b'"reason":": permanent; kept indefinitely, no disposition date","reason":": destroy when 90 days old -> ",'
    b'"reason":"UNSCHEDULED: kept as permanent until a records officer schedules it; no disposition date",'
    b'"action":"destroy","action":"transfer","action":"review",'
    b'"source":"sms","source":"signal","source":"telegram","source":"imessage","source":"email",'
    b'"account":"official","direction":"sent","system":true,"flags":["edited"],"flags":["deleted"],'
    b'"attachments":[{"media_type":"image/jpeg","missing":false,"name":"","sha256":"","size":0}],'
    b'"attachment_objects":["att/"],"classification":{"confidence":0.9,"evidence":["the word \'\' (-1.00)",'
    b'"rule  (1.00)","context: answers_likely (-1.00)","the rules\' verdict nonrecord (-2.00)"],"label":"nonrecord",'
    b'"reasons":["learned-nonrecord","leisure-talk-words","acknowledgement"],"review":true,"rules_version":"",'
    b'"schedule":null},"content_hash":"","disposition":null,"fingerprint":null,"format":"archiver-record",'
    b'"forwarding":null,"id":"","ingested_at":"2026-01-01T00:00:00.000000Z","message":{"account":"personal",'
    b'"attachments":[],"body":"","conversation":"","custodian":"","direction":"received","flags":[],'
    b'"recipients":["",""],"sender":"","sent_at":"2026-01-01T00:00:00-07:00","source":"whatsapp",'
    b'"source_ref":{"entry":null,"export_sha256":"","file":"WhatsApp Chat with .txt","line":1},"system":false},'
    b'"occurrence":1,"review":{"expires":"2026-01-01"},"schedule":null,"version":1}'
    b'{"attachment_objects":[],"classification":{"confidence":0.9,"label":"record","reasons":['
    b'"official-information-words"],"review":false,"rules_version":"","schedule":null},"content_hash":"",'
    b'"disposition":{"action":"review","cutoff":"2026-01-01","disposition_date":null,"item":"UNSCHEDULED",'
    b'"reason":"","retain_until":null},"fingerprint":"","format":"archiver-record","forwarding":{"days_late":0,'
    b'"deadline":"2026-01-21T00:00:00Z","reason":"archived 2026-01-01T00:00:00.000000Z, 1 days after the '
    b'20-day deadline 2026-01-21T00:00:00Z (44 U.S.C. 2911(a)(2))","status":"late"},"id":"","ingested_at":"'
)


def seal(keys: KeyProvider, object_id: str, plaintext: bytes) -> bytes:
    """Encrypt ``plaintext`` as the object ``object_id``, deflated first when that makes it smaller."""
    context = object_id.encode()
    data_key, wrapped = keys.new_data_key(context)
    key_id = keys.key_id.encode()
    nonce = os.urandom(NONCE_SIZE)
    # A fresh deflater: copying a primed one copies its whole state, which costs more.
    deflater = zlib.compressobj(6, zlib.DEFLATED, _WINDOW, 8, zlib.Z_DEFAULT_STRATEGY, zdict=DEFLATE_DICTIONARY)
    deflated = deflater.compress(plaintext) + deflater.flush()
    version, body = (VERSION_DEFLATED, deflated) if len(deflated) < len(plaintext) else (VERSION, plaintext)
    header = b"".join((MAGIC, bytes((version, len(key_id))), key_id,
                       struct.pack(">H", len(wrapped)), wrapped, nonce))
    return header + AESGCM(data_key).encrypt(nonce, body, header + context)


def open_sealed(keys: KeyProvider, object_id: str, envelope: bytes) -> bytes:
    """Decrypt an envelope made by ``seal`` for the same ``object_id``."""
    header, wrapped, nonce = _split_header(object_id, envelope)
    context = object_id.encode()
    try:
        data_key = keys.unwrap(wrapped, context)
        body = AESGCM(data_key).decrypt(nonce, envelope[len(header):], header + context)
    except (InvalidTag, KeyProviderError):
        raise IntegrityError(f"object {object_id}: envelope fails authentication "
                             "(tampered, truncated, or stored under another id)") from None
    return _inflate(object_id, body) if header[4] == VERSION_DEFLATED else body


def _inflate(object_id: str, body: bytes) -> bytes:
    # A fresh inflater: priming one costs less than copying a primed one (its whole window).
    inflater = zlib.decompressobj(_WINDOW, zdict=DEFLATE_DICTIONARY)
    try:
        plaintext = inflater.decompress(body) + inflater.flush()
    except zlib.error as exc:  # authenticated, so only a writer's fault could bring this here
        raise IntegrityError(f"object {object_id}: sealed content does not inflate ({exc})") from None
    if not inflater.eof:
        raise IntegrityError(f"object {object_id}: sealed content ends before its deflate stream")
    return plaintext


def _split_header(object_id: str, envelope: bytes) -> tuple[bytes, bytes, bytes]:
    try:
        if envelope[:4] != MAGIC or envelope[4] not in (VERSION, VERSION_DEFLATED):
            raise ValueError("unknown magic or version")
        key_id_end = 6 + envelope[5]
        (wrapped_len,) = struct.unpack_from(">H", envelope, key_id_end)
        wrapped_end = key_id_end + 2 + wrapped_len
        header_end = wrapped_end + NONCE_SIZE
        if header_end + 16 > len(envelope):
            raise ValueError("truncated")
    except (ValueError, IndexError, struct.error) as exc:
        raise IntegrityError(f"object {object_id}: not a readable envelope ({exc})") from None
    return envelope[:header_end], envelope[key_id_end + 2:wrapped_end], envelope[wrapped_end:header_end]
