"""Who is acting: the name every audit entry records and every grant is checked against.

On one machine it is the login name; ``ARCHIVER_ACTOR`` overrides it (service accounts). Where
the archive is in AWS (an S3 store or a DynamoDB catalog) it is the caller's IAM principal ARN,
as STS GetCallerIdentity answers it, so the name cannot be chosen by the caller's shell
(``ARCHIVER_ACTOR`` still wins when set, and IAM decides what that caller can reach anyway).
"""

from __future__ import annotations

import getpass
import os

from archiver.config import Settings
from archiver.errors import UsageError

ACTOR_VARIABLE = "ARCHIVER_ACTOR"


def current_actor(settings: Settings) -> str:
    """The actor of a command run with ``settings``."""
    forced = _forced()
    if forced:
        return forced
    if settings.store.startswith("s3://") or settings.catalog.startswith("dynamodb://"):
        return caller_arn()
    return login_name()


def function_actor() -> str:
    """The actor of a Lambda function: its own principal (``ARCHIVER_ACTOR`` when set)."""
    return _forced() or caller_arn()


def caller_arn() -> str:
    """The IAM principal ARN of the AWS credentials in use (STS GetCallerIdentity)."""
    import boto3  # imported here: archives on one machine never import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return str(boto3.client("sts").get_caller_identity()["Arn"])
    except (BotoCoreError, ClientError) as exc:
        raise UsageError(f"cannot tell who is calling: STS GetCallerIdentity failed ({exc}); "
                         f"check the AWS credentials, or set {ACTOR_VARIABLE}") from None


def login_name() -> str:
    """The local login name."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _forced() -> str:
    return os.environ.get(ACTOR_VARIABLE, "").strip()
