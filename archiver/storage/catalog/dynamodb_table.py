"""The one DynamoDB table behind the catalog, and every AWS call made to it.

It creates the table for ``archiver init`` or checks that an existing one is an archiver
catalog, runs each call and turns its failure into a one-line ``ArchiverError`` (no
traceback, no request dump), and reads and writes in DynamoDB's units: queries page after
page, batched gets and writes retried while DynamoDB leaves keys unprocessed.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)

from archiver.errors import ArchiverError, CatalogError, ConfigError
from archiver.storage.catalog.dynamodb_items import INDEXES, Item, Key, _key, _s

BATCH_GET_KEYS = 100         # DynamoDB's limit per BatchGetItem
BATCH_WRITE_ITEMS = 25       # DynamoDB's limit per BatchWriteItem
MAX_UNPROCESSED_RETRIES = 10

_THROTTLING = {"ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
               "Throttling", "TooManyRequestsException"}
_ACCESS = {"AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException",
           "ExpiredTokenException", "MissingAuthenticationTokenException", "IncompleteSignatureException"}

T = TypeVar("T")

# Botocore checks every request against the service model before sending it: at ingest that
# walks each attribute of every item (about a third of the archiver's CPU to DynamoDB). The
# items are built by this package's own code and DynamoDB validates them again on arrival,
# answering ValidationException, which ``_error`` reports like any refused call.
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 8}, parameter_validation=False)


class DynamoTable:
    """The catalog's table: its client, its creation or check, and calls that fail cleanly."""

    def __init__(self, table: str, region: str | None = None, create: bool = False) -> None:
        self.table = table
        self.region = region
        try:
            self._client = boto3.session.Session().client("dynamodb", region_name=region, config=CLIENT_CONFIG)
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc) from None
        if create:
            self.create_if_missing()
        else:
            self._check_table(self._call(self._client.describe_table, TableName=table)["Table"])

    # -- table -------------------------------------------------------------------------------

    def create_if_missing(self) -> bool:
        """Create the table (and wait until it is active) unless it exists; True if created."""
        try:
            description = self._client.describe_table(TableName=self.table)["Table"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise self._error(exc) from None
        except BotoCoreError as exc:
            raise self._error(exc) from None
        else:
            self._check_table(description)
            self._wait_active()
            return False
        names = ["pk", "sk", *(f"{index}{part}" for index in INDEXES for part in ("pk", "sk"))]
        try:
            self._client.create_table(
                TableName=self.table, BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name in names],
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                GlobalSecondaryIndexes=[{
                    "IndexName": index,
                    "KeySchema": [{"AttributeName": f"{index}pk", "KeyType": "HASH"},
                                  {"AttributeName": f"{index}sk", "KeyType": "RANGE"}],
                    "Projection": {"ProjectionType": "ALL"}} for index in INDEXES],
                SSESpecification={"Enabled": True, "SSEType": "KMS"},
                DeletionProtectionEnabled=True)  # a catalog of federal records is not deleted by accident
        except ClientError as exc:
            # Another process creating it at the same moment is fine: wait for it below.
            if exc.response.get("Error", {}).get("Code") != "ResourceInUseException":
                raise self._error(exc) from None
        except BotoCoreError as exc:
            raise self._error(exc) from None
        self._wait_active()
        self._enable_point_in_time_recovery()
        return True

    def _wait_active(self) -> None:
        try:
            self._client.get_waiter("table_exists").wait(TableName=self.table,
                                                         WaiterConfig={"Delay": 2, "MaxAttempts": 150})
        except (BotoCoreError, ClientError) as exc:
            raise CatalogError(f"DynamoDB table {self.table} did not become active: {exc}") from None

    def _enable_point_in_time_recovery(self) -> None:
        # Right after creation DynamoDB may still be preparing backups; it says so, and we wait.
        for attempt in range(30):
            try:
                self._client.update_continuous_backups(
                    TableName=self.table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
                return
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ContinuousBackupsUnavailableException" \
                        or attempt == 29:
                    raise CatalogError(f"DynamoDB table {self.table} was created, but point-in-time recovery "
                                       f"could not be enabled ({exc}); enable it on the table before archiving"
                                       ) from None
            except BotoCoreError as exc:
                raise self._error(exc) from None
            time.sleep(2)

    def _check_table(self, description: dict[str, Any]) -> None:
        keys = {(k["AttributeName"], k["KeyType"]) for k in description.get("KeySchema", [])}
        indexes = {i["IndexName"] for i in description.get("GlobalSecondaryIndexes", [])}
        missing = [index for index in INDEXES if index not in indexes]
        if keys != {("pk", "HASH"), ("sk", "RANGE")} or missing:
            raise ConfigError(f"DynamoDB table {self.table} is not an archiver catalog (it needs keys pk/sk and "
                              f"indexes {', '.join(INDEXES)}); name another table, or a new one for 'archiver init'")

    # -- AWS calls and errors ------------------------------------------------------------------

    def _call(self, operation: Callable[..., T], **kwargs: Any) -> T:
        try:
            return operation(**kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc) from None

    def _conditional(self, operation: Callable[..., Any], **kwargs: Any) -> bool:
        """Run a conditional write; False when its condition did not hold (not an error)."""
        try:
            operation(**kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise self._error(exc) from None
        except BotoCoreError as exc:
            raise self._error(exc) from None
        return True

    def _error(self, exc: BotoCoreError | ClientError) -> ArchiverError:
        """The user-facing error for a failed AWS call (no traceback, no request dump)."""
        where = f"DynamoDB table {self.table}"
        if isinstance(exc, NoCredentialsError | PartialCredentialsError):
            return ConfigError(f"{where}: no AWS credentials found; set AWS_PROFILE or AWS_ACCESS_KEY_ID and "
                               "AWS_SECRET_ACCESS_KEY, or run where an IAM role applies")
        if isinstance(exc, NoRegionError):
            return ConfigError(f"{where}: no AWS region; set AWS_REGION (or AWS_DEFAULT_REGION), or add "
                               "?region=REGION to the catalog URL")
        if isinstance(exc, ConnectionError):
            return CatalogError(f"{where}: cannot reach DynamoDB ({exc})")
        if not isinstance(exc, ClientError):
            return CatalogError(f"{where}: {exc}")
        error = exc.response.get("Error", {})
        code, message = str(error.get("Code", "")), str(error.get("Message", ""))
        if code == "ResourceNotFoundException":
            return ConfigError(f"{where} does not exist{' in ' + self.region if self.region else ''}; "
                               f"run 'archiver init' with ARCHIVER_CATALOG=dynamodb://{self.table} to create it")
        if code in _ACCESS:
            return ConfigError(f"{where}: access denied ({code}: {message}); check the credentials and that "
                               "their IAM policy allows this table")
        if code in _THROTTLING:
            return CatalogError(f"{where}: DynamoDB is throttling requests and retries did not get through; "
                                "try again later")
        return CatalogError(f"{where}: {code}: {message}")

    def _backoff(self, attempt: int) -> None:
        time.sleep(min(2.0, 0.02 * 2 ** attempt) * (0.5 + random.random()))

    def _query(self, partition: str, index: str | None = None, projection: Sequence[str] = (), *,
               sort: str = "", values: Sequence[str] = (), forward: bool = True,
               page: int | None = None) -> Iterator[Item]:
        """Every item of one partition of the table (consistent) or of a GSI, page after page:
        those whose sort key meets ``sort`` (a condition on ``sk`` with ``:a``, ``:b`` for
        ``values``) if given, in descending order unless ``forward``, ``page`` items a request."""
        kwargs: dict[str, Any] = {"TableName": self.table, "ScanIndexForward": forward,
                                  "ExpressionAttributeValues": {":p": _s(partition), **{
                                      name: _s(value) for name, value in zip((":a", ":b"), values, strict=False)}}}
        if index is None:
            kwargs.update(KeyConditionExpression="pk = :p" + (f" AND {sort}" if sort else ""), ConsistentRead=True)
        else:
            kwargs.update(IndexName=index, KeyConditionExpression=f"{index}pk = :p")
        if page is not None:
            kwargs.update(Limit=page)
        if projection:
            kwargs.update(ProjectionExpression=", ".join(f"#a{i}" for i in range(len(projection))),
                          ExpressionAttributeNames={f"#a{i}": name for i, name in enumerate(projection)})
        while True:
            page = self._call(self._client.query, **kwargs)
            yield from page.get("Items", [])
            last = page.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last

    def _batch_get(self, keys: Iterable[Key], projection: Sequence[str] = ()) -> Iterator[Item]:
        """The items of ``keys`` that exist (strongly consistent), retrying unprocessed keys."""
        unique = list(dict.fromkeys(keys))
        request: dict[str, Any] = {"ConsistentRead": True}
        if projection:
            request.update(ProjectionExpression=", ".join(f"#a{i}" for i in range(len(projection))),
                           ExpressionAttributeNames={f"#a{i}": name for i, name in enumerate(projection)})
        for start in range(0, len(unique), BATCH_GET_KEYS):
            pending: dict[str, Any] = {self.table: {**request, "Keys": [_key(k) for k in
                                                                       unique[start:start + BATCH_GET_KEYS]]}}
            for attempt in range(MAX_UNPROCESSED_RETRIES + 1):
                page = self._call(self._client.batch_get_item, RequestItems=pending)
                yield from page.get("Responses", {}).get(self.table, [])
                pending = page.get("UnprocessedKeys") or {}
                if not pending:
                    break
                if attempt == MAX_UNPROCESSED_RETRIES:
                    raise CatalogError(f"DynamoDB table {self.table}: DynamoDB is throttling reads and retries did "
                                       "not get through; try again later")
                self._backoff(attempt)

    def _batch_write(self, requests: Sequence[dict[str, Any]]) -> None:
        """Unconditional puts and deletes (idempotent ones only), retrying unprocessed items."""
        for start in range(0, len(requests), BATCH_WRITE_ITEMS):
            pending: dict[str, Any] = {self.table: list(requests[start:start + BATCH_WRITE_ITEMS])}
            for attempt in range(MAX_UNPROCESSED_RETRIES + 1):
                page = self._call(self._client.batch_write_item, RequestItems=pending)
                pending = page.get("UnprocessedItems") or {}
                if not pending:
                    break
                if attempt == MAX_UNPROCESSED_RETRIES:
                    raise CatalogError(f"DynamoDB table {self.table}: DynamoDB is throttling writes and retries "
                                       "did not get through; try again later")
                self._backoff(attempt)
