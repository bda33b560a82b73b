"""AWS KMS key provider: ``kms://alias/NAME``, ``kms://KEY-ARN`` or ``kms://KEY-ID``.

KMS never hands out its key: the archiver asks it to generate and to decrypt keys.

* **Data keys.** ``envelope.seal`` asks for a data key per sealed frame, that is per record
  (a segment holds up to 1,000 of them), and ``verify`` unwraps every one. One KMS call per
  record would tie ingest and verify to KMS latency and its request quota. So KMS generates a
  key-encryption key (KEK) once per ``KEK_USES`` data keys; each data key is random and is
  wrapped here with AES-256-GCM under the KEK, with the object id as associated data, and the
  wrapped form carries the KEK's KMS ciphertext blob. Every frame therefore still opens alone;
  unwrapping asks KMS to decrypt each distinct KEK once (kept in memory, never on disk) and
  refuses a wrapped key presented for any other object.
* **Keyed hashes** (message ids, blind index, object names) must stay the same for the life
  of the archive, across key rotation. They are HKDF sub-keys of a 32-byte derivation root
  that KMS generates at ``archiver init``. The root is stored only wrapped, as the JSON
  document ``keys/derivation-root`` in the archive's own write-once store, and is unwrapped
  into this process's memory only.

Every KMS call carries the encryption context ``archiver:archive`` (a random id made at init)
and ``archiver:purpose``: a blob of another archive or made for another purpose does not
open, and CloudTrail shows which archive each call served. KMS automatic rotation needs no
re-encryption: KMS keeps the old key material and Decrypt picks it from the blob.
"""

from __future__ import annotations

import base64
import json
import os
import struct
import uuid
from collections import OrderedDict
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from archiver.errors import (
    ArchiverError,
    KeyProviderError,
    KeyServiceError,
    ObjectExistsError,
    ObjectNotFoundError,
    UsageError,
)
from archiver.storage.keys.base import DATA_KEY_SIZE, NONCE_SIZE, derive_subkey
from archiver.storage.keys.signing import ECDSA_P256
from archiver.storage.store.base import ObjectStore

URL_PREFIX = "kms://"
ROOT_KEY = "keys/derivation-root"  # object key of the wrapped derivation root in the archive's store
ROOT_FORMAT = "archiver-kms-derivation-root"
WRAP_MAGIC = b"AKMS"
WRAP_VERSION = 1
KEK_USES = 1000      # data keys per KMS-generated KEK: about one GenerateDataKey per full segment
KEK_CACHE_SIZE = 256  # unwrapped KEKs kept while reading; bounds memory on a long verify

_PURPOSE_ROOT = "derivation-root"
_PURPOSE_KEK = "wrap-data-keys"
_WRAP_HEADER = struct.Struct(">4sBH")  # magic, version, length of the KEK blob

# What each KMS error code means for the person at the terminal.
_CAUSES = {
    "AccessDeniedException": "access denied: the IAM policy or the key policy does not allow kms:{action} "
                             "for these credentials",
    "DisabledException": "the key is disabled; enable it (aws kms enable-key)",
    "NotFoundException": "no such key or alias in this account and region",
    "KMSInvalidStateException": "the key cannot be used in its current state (pending deletion or unavailable)",
    "KeyUnavailableException": "KMS cannot use the key right now; try again later",
    "ThrottlingException": "KMS throttled the requests; try again later or raise the account's KMS request quota",
    "LimitExceededException": "KMS throttled the requests; try again later or raise the account's KMS request quota",
    "InvalidCiphertextException": "the wrapped key does not open with this archive's encryption context "
                                  "(it belongs to another archive or purpose, or is damaged)",
    "IncorrectKeyException": "the wrapped key was made with another KMS key",
    "UnrecognizedClientException": "the AWS credentials are not valid",
    "InvalidClientTokenId": "the AWS credentials are not valid",
    "ExpiredTokenException": "the AWS credentials have expired; renew them",
}
# Decrypt errors that say "this blob does not open here" (damage or a swap), not "KMS is unusable".
_BLOB_ERRORS = {"InvalidCiphertextException", "IncorrectKeyException"}




class KmsKeyProvider:
    """Key provider backed by an AWS KMS symmetric key and the archive's wrapped derivation root."""

    def __init__(self, url: str, client: Any, key_arn: str, archive_id: str, root: bytes) -> None:
        self.url = url
        self.key_id = "kms:" + key_arn
        self.key_arn = key_arn
        self.archive_id = archive_id
        self._client = client
        self._root = root
        self._kek: AESGCM | None = None
        self._kek_header = b""
        self._kek_uses = 0
        self._keks: OrderedDict[bytes, AESGCM] = OrderedDict()

    @classmethod
    def create(cls, url: str, store: ObjectStore) -> KmsKeyProvider:
        """Generate the archive's derivation root and store it wrapped; refuse if one exists."""
        client, key_arn = _connect(url)
        if store.exists(ROOT_KEY):
            raise KeyProviderError(f"{url}: the archive already has a KMS derivation root ({ROOT_KEY}); "
                                   "refusing to create a second one (it would give every message a new id)")
        archive_id = uuid.uuid4().hex
        answer = _call(url, client, "generate_data_key", KeyProviderError, KeyId=key_arn, KeySpec="AES_256",
                       EncryptionContext=_context(archive_id, _PURPOSE_ROOT))
        document = {"format": ROOT_FORMAT, "version": 1, "archive": archive_id, "key": key_arn,
                    "wrapped_root": base64.b64encode(answer["CiphertextBlob"]).decode()}
        try:
            store.put(ROOT_KEY, json.dumps(document).encode() + b"\n", None)  # kept indefinitely
        except ObjectExistsError:
            raise KeyProviderError(f"{url}: another 'archiver init' created the KMS derivation root first; "
                                   "run 'archiver init' again to use it") from None
        return cls(url, client, key_arn, archive_id, answer["Plaintext"])

    @classmethod
    def open(cls, url: str, store: ObjectStore) -> KmsKeyProvider:
        """Open the archive's derivation root with KMS; refuse an archive that has none."""
        client, key_arn = _connect(url)
        try:
            raw = store.get(ROOT_KEY)
        except ObjectNotFoundError:
            raise KeyProviderError(f"{url}: the archive has no KMS derivation root ({ROOT_KEY} in the store); "
                                   "run 'archiver init' first") from None
        archive_id, made_with, wrapped_root = _read_root_document(url, raw)
        if made_with != key_arn:
            raise KeyProviderError(f"{url}: the archive was created with KMS key {made_with}, not {key_arn}; "
                                   f"set the key to kms://{made_with}")
        answer = _call(url, client, "decrypt", KeyProviderError, CiphertextBlob=wrapped_root, KeyId=key_arn,
                       EncryptionContext=_context(archive_id, _PURPOSE_ROOT))
        if len(answer["Plaintext"]) != 32:
            raise KeyProviderError(f"{url}: {ROOT_KEY} does not hold a 32-byte derivation root")
        return cls(url, client, key_arn, archive_id, answer["Plaintext"])

    def new_data_key(self, context: bytes) -> tuple[bytes, bytes]:
        kek = self._kek if self._kek is not None and self._kek_uses < KEK_USES else self._new_kek()
        self._kek_uses += 1
        data_key = os.urandom(DATA_KEY_SIZE)
        nonce = os.urandom(NONCE_SIZE)
        # The header (with the KEK blob) and the object id are both bound as associated data.
        return data_key, self._kek_header + nonce + kek.encrypt(nonce, data_key, self._kek_header + context)

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes:
        try:
            magic, version, blob_length = _WRAP_HEADER.unpack_from(wrapped)
        except struct.error:
            raise KeyProviderError(f"{self.url}: a wrapped data key is truncated") from None
        header_end = _WRAP_HEADER.size + blob_length
        if magic != WRAP_MAGIC or version != WRAP_VERSION or len(wrapped) < header_end + NONCE_SIZE:
            raise KeyProviderError(f"{self.url}: a wrapped data key is not in the KMS provider's format "
                                   "(made with another key provider, or damaged)")
        kek = self._open_kek(wrapped[_WRAP_HEADER.size:header_end])
        nonce = wrapped[header_end:header_end + NONCE_SIZE]
        try:
            return kek.decrypt(nonce, wrapped[header_end + NONCE_SIZE:], wrapped[:header_end] + context)
        except InvalidTag:
            raise KeyProviderError(f"{self.url}: a wrapped data key does not open for this object "
                                   "(it was made for another object, or is damaged)") from None

    def derive(self, purpose: str) -> bytes:
        return derive_subkey(self._root, purpose)

    def _new_kek(self) -> AESGCM:
        answer = _call(self.url, self._client, "generate_data_key", KeyProviderError, KeyId=self.key_arn,
                       KeySpec="AES_256", EncryptionContext=_context(self.archive_id, _PURPOSE_KEK))
        blob = answer["CiphertextBlob"]
        self._kek = AESGCM(answer["Plaintext"])
        self._kek_header = _WRAP_HEADER.pack(WRAP_MAGIC, WRAP_VERSION, len(blob)) + blob
        self._kek_uses = 0
        self._remember(blob, self._kek)  # reading back what this run wrote needs no KMS call
        return self._kek

    def _open_kek(self, blob: bytes) -> AESGCM:
        kek = self._keks.get(blob)
        if kek is None:
            # A KMS outage here must abort the run, not mark the record damaged (see KeyServiceError).
            answer = _call(self.url, self._client, "decrypt", KeyServiceError, CiphertextBlob=blob,
                           KeyId=self.key_arn, EncryptionContext=_context(self.archive_id, _PURPOSE_KEK))
            kek = AESGCM(answer["Plaintext"])
        self._remember(blob, kek)
        return kek

    def _remember(self, blob: bytes, kek: AESGCM) -> None:
        self._keks[blob] = kek
        self._keks.move_to_end(blob)
        if len(self._keks) > KEK_CACHE_SIZE:
            self._keks.popitem(last=False)


def key_reference(url: str) -> str:
    """The KMS key id, ARN or alias a ``kms://`` URL names."""
    reference = url[len(URL_PREFIX):] if url.startswith(URL_PREFIX) else ""
    if not reference or any(ch.isspace() for ch in reference):
        raise UsageError(f"{url!r}: name a KMS key as kms://alias/NAME, kms://KEY-ARN or kms://KEY-ID")
    return reference


def _connect(url: str) -> tuple[Any, str]:
    """A KMS client and the ARN of the enabled symmetric key that ``url`` names."""
    reference = key_reference(url)
    # An ARN names its region; otherwise boto3's usual configuration (AWS_REGION, profile) applies.
    region = reference.split(":")[3] if reference.startswith("arn:") and reference.count(":") >= 5 else None
    try:
        client = boto3.client("kms", region_name=region or None,
                              config=Config(retries={"mode": "standard", "max_attempts": 8}))
    except BotoCoreError as exc:
        raise KeyProviderError(_failure(url, None, exc)) from None
    metadata = _call(url, client, "describe_key", KeyProviderError, KeyId=reference)["KeyMetadata"]
    arn, state = str(metadata["Arn"]), metadata.get("KeyState", "Enabled")
    if state != "Enabled":
        hint = {"Disabled": "enable it (aws kms enable-key)",
                "PendingDeletion": "cancel its deletion (aws kms cancel-key-deletion): once deleted, nothing "
                                   "sealed with it can be read"}.get(state, "it cannot encrypt or decrypt now")
        raise KeyProviderError(f"{url}: the KMS key {arn} is {state}; {hint}")
    if metadata.get("KeyUsage", "ENCRYPT_DECRYPT") != "ENCRYPT_DECRYPT" or \
            metadata.get("KeySpec", "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT":
        raise KeyProviderError(f"{url}: the KMS key {arn} is not a symmetric encryption key "
                               "(KeySpec SYMMETRIC_DEFAULT, KeyUsage ENCRYPT_DECRYPT)")
    return client, arn


def _call(url: str, client: Any, method: str, error: type[ArchiverError], **params: Any) -> dict[str, Any]:
    """One KMS call; a failure becomes ``error`` naming the key and the cause, never a traceback.

    A blob that does not open is always a ``KeyProviderError``: that is the wrapped key's fault.
    """
    try:
        answer: dict[str, Any] = getattr(client, method)(**params)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        raise (KeyProviderError if code in _BLOB_ERRORS else error)(
            _failure(url, client.meta.method_to_api_mapping.get(method, method), exc)) from None
    except BotoCoreError as exc:
        raise error(_failure(url, client.meta.method_to_api_mapping.get(method, method), exc)) from None
    return answer


def _failure(url: str, action: str | None, exc: Exception) -> str:
    """``url: KMS Action failed: cause`` (``action`` is None when no client could be made)."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "")
        cause = _CAUSES[code].format(action=action) if code in _CAUSES else f"{code}: {error.get('Message', '')}"
    elif isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        cause = ("no AWS credentials found (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                 "or run with an IAM role)")
    elif isinstance(exc, NoRegionError):
        cause = "no AWS region set (set AWS_REGION, or name the key by its ARN)"
    elif isinstance(exc, EndpointConnectionError):
        cause = f"cannot reach KMS ({exc})"
    else:
        cause = str(exc)
    return f"{url}: {f'KMS {action} failed' if action else 'cannot use KMS'}: {cause}"


def _context(archive_id: str, purpose: str) -> dict[str, str]:
    return {"archiver:archive": archive_id, "archiver:purpose": purpose}


def _read_root_document(url: str, raw: bytes) -> tuple[str, str, bytes]:
    """(archive id, key ARN, wrapped root) from the ``keys/derivation-root`` document."""
    try:
        document = json.loads(raw)
        if document.get("format") != ROOT_FORMAT or document.get("version") != 1:
            raise ValueError("not an archiver KMS derivation root, or a newer version")
        return (str(document["archive"]), str(document["key"]),
                base64.b64decode(document["wrapped_root"], validate=True))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise KeyProviderError(f"{url}: {ROOT_KEY} in the store is unreadable ({exc})") from None


SIGNING_KEY = "keys/export-signing"  # object key of the document naming the KMS export-signing key
SIGNING_FORMAT = "archiver-kms-export-signing"


class KmsSigner:
    """The export-signing key in KMS: an asymmetric ECC_NIST_P256 key (ECDSA with SHA-256).

    KMS offers Ed25519 only in some regions, and moto cannot test it; P-256 is everywhere. The
    private key never leaves KMS; the store keeps a document naming it."""

    algorithm = ECDSA_P256

    def __init__(self, url: str, client: Any, key_arn: str) -> None:
        self.url, self.key_arn, self._client = url, key_arn, client

    @classmethod
    def create(cls, url: str, store: ObjectStore) -> KmsSigner:
        """Create the signing key in KMS and name it in the store (refusing a second one)."""
        client, _ = _connect(url)
        metadata = _call(url, client, "create_key", KeyProviderError, KeySpec="ECC_NIST_P256",
                         KeyUsage="SIGN_VERIFY", Description="archiver export-signing key")["KeyMetadata"]
        document = {"format": SIGNING_FORMAT, "version": 1, "key": metadata["Arn"]}
        try:
            store.put(SIGNING_KEY, json.dumps(document).encode() + b"\n", None)
        except ObjectExistsError:
            raise KeyProviderError(f"{url}: another 'archiver init' created the export-signing key first") from None
        return cls(url, client, str(metadata["Arn"]))

    @classmethod
    def open(cls, url: str, store: ObjectStore) -> KmsSigner:
        """The signing key the store names; refused when there is none."""
        client, _ = _connect(url)
        try:
            document = json.loads(store.get(SIGNING_KEY))
            return cls(url, client, str(document["key"]))
        except ObjectNotFoundError:
            raise UsageError(f"{url}: no export-signing key ({SIGNING_KEY} in the store); run 'archiver init' "
                             "again to create it (audited)") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise KeyProviderError(f"{url}: {SIGNING_KEY} in the store is unreadable ({exc})") from None

    def public_key_pem(self) -> bytes:
        der = _call(self.url, self._client, "get_public_key", KeyProviderError, KeyId=self.key_arn)["PublicKey"]
        return serialization.load_der_public_key(der).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def sign(self, data: bytes) -> bytes:
        # RAW: KMS hashes the message itself (up to 4 KiB: a tag manifest is well under it).
        answer = _call(self.url, self._client, "sign", KeyServiceError, KeyId=self.key_arn, Message=data,
                       MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256")
        return bytes(answer["Signature"])
