"""Records-retention archiver for messaging apps (44 U.S.C. 2911, 36 CFR 1236.22)."""

from archiver.errors import ArchiverError
from archiver.model import Attachment, Message, SourceRef

__version__ = "0.1.0"
__all__ = ["ArchiverError", "Attachment", "Message", "SourceRef", "__version__"]
