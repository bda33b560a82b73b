"""Conversation context: what the classifier remembers of a conversation (the previous
message as it was decided, the question still open and who answered it, what its last few
messages left) and when a context rule holds (a reply to a request, to social talk, to a
personal question, or a message in a conversation of personal talk). A conversation keeps a
few values, whatever its length.

Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from archiver.core.ruleset import (
    DEFAULT_REASON,
    NONRECORD,
    PERSONAL_CONVERSATION,
    RECORD,
    REPLY_TO_PERSONAL,
    REPLY_TO_REQUEST,
)
from archiver.core.verdict import Classification

# A conversation is personal when none of its last _HORIZON messages (app notices aside) was
# decided a record by a record rule (or kept by default with a figure in it and no personal
# words: "Truck 44 at dock 2" states a fact), and at least _PERSONAL_NEEDED of its last
# _WINDOW had personal words of their own. A conversation that has not yet had _WINDOW messages is never
# personal: two personal messages at its opening are not enough to judge it.
_HORIZON = 8
_WINDOW = 4
_PERSONAL_NEEDED = 2
# What each message of the window left: business (a record by a record rule, or by default
# with a figure and no personal words), personal talk, or neither.
_NEUTRAL, _PERSONAL, _RECORDED = 0, 1, 2
# How many messages after a request for official action still belong to its exchange.
_EXCHANGE = 4
_LONG_AGO = 1 << 30
# How many messages a conversation needs before the share of them that was business says anything.
_OPENING = 3


# Built for every message, so slotted but not frozen (a frozen dataclass takes four times as long
# to build); nothing changes one once built.
@dataclass(slots=True)
class Evaluation:
    """A message judged on its own: rules fired, and context rules waiting for context."""

    fired: tuple[int, ...]
    pending: tuple[int, ...]
    question: bool
    personal: bool  # a personal rule fired on the text
    sender: str
    number: bool  # the text a person wrote has a figure
    tokens: tuple[str, ...] = ()  # the folded words and symbols of the text
    text_score: tuple[float, float] = (0.0, 0.0)  # the learned model's weights of those words, by layer
    shape: tuple[str, ...] = ()  # the learned model's features of the message's form


@dataclass(slots=True)
class Prior:
    """A previous message and its verdict (in a stream, the verdict in its context)."""

    evaluation: Evaluation
    verdict: Classification


@dataclass(slots=True)
class Thread:
    """Where a conversation stands: its last message, the question still open, if any, and
    what each of its last few messages left (record, personal talk or neither)."""

    previous: Prior
    sender: str
    question: Prior | None
    answered_by: frozenset[str]
    recent: tuple[int, ...]
    since_official: int = _LONG_AGO  # messages since one that asked for or gave official action
    score: float | None = None  # what the learned model's first layer said of the last message
    seen: int = 0  # messages of the conversation so far, app notices aside
    business: int = 0  # how many of them a record rule (not the default) decided a record
    personal_talk: bool = False  # whether any of them had personal words of its own

    @property
    def official_in_personal_talk(self) -> bool:
        """Whether, in a conversation with personal talk lately, one of the last few messages
        asked for or gave official action (a rule that is never overruled kept it as a
        record): in a family chat, the officer's refusal and the relative's follow-up belong
        to that exchange, whatever their words."""
        return self.since_official < _EXCHANGE and _PERSONAL in self.recent

    @property
    def context(self) -> tuple[str, ...]:
        """What the learned model reads of the conversation so far: whether the message
        belongs to an official exchange in personal talk, and whether a record rule found
        business in any of its messages and, if none, whether it has had personal talk (or
        that it has only just opened). Social talk in a thread with no business weighs less;
        the one official request in it still fires its rule. Measured left one file out,
        splitting "some" from "most" business, weighing it with the rules' verdict, or marking
        business threads with much personal talk did no better."""
        found = ("c:official_exchange",) if self.official_in_personal_talk else ()
        return (*found, _business_share(self.seen, self.business, self.personal_talk))


# What the learned model reads of a conversation's first message (see ``Thread.context``).
OPENING_CONTEXT = ("c:thread_opening",)


def thread_context(thread: Thread | None) -> tuple[str, ...]:
    """``thread.context``, or the opening's for a conversation's first message (no thread yet)."""
    return OPENING_CONTEXT if thread is None else thread.context


def _business_share(seen: int, business: int, personal_talk: bool) -> str:
    if seen < _OPENING:
        return "c:thread_opening"
    if business:
        return "c:thread_business"
    return "c:thread_personal" if personal_talk else "c:thread_no_business"


def context_holds(context: str | None, current: Evaluation, prior: Prior | None, conversation: bool) -> bool:
    """Whether a rule of ``context`` holds for ``current`` after the previous message
    ``prior``, in a conversation that is (``conversation``) or is not personal talk."""
    if context == PERSONAL_CONVERSATION:
        return conversation
    if prior is None:
        return False
    verdict = prior.verdict
    if context == REPLY_TO_REQUEST:
        # A record rule (not the default) must have decided the question.
        return prior.evaluation.question and verdict.label == RECORD and DEFAULT_REASON not in verdict.reasons
    if prior.evaluation.sender == current.sender:
        return False  # the same person going on is not a reply to talk (social or personal)
    if context == REPLY_TO_PERSONAL:
        # A personal question: personal words in the previous message itself (not a reply to
        # a reply), a question mark, and not a record. Personal talk kept from the tombstone
        # (review) still makes a reply personal; a personal remark leaves nothing to answer.
        evaluation = prior.evaluation
        return evaluation.personal and evaluation.question and verdict.label == NONRECORD
    # Only confident social talk makes a short reply social: doubt is not inherited as certainty.
    return verdict.label == NONRECORD and not verdict.review


def is_personal(recent: tuple[int, ...]) -> bool:
    """Whether a conversation whose last messages left ``recent`` is personal talk."""
    return (
        len(recent) >= _WINDOW
        and _RECORDED not in recent
        and recent[-_WINDOW:].count(_PERSONAL) >= _PERSONAL_NEEDED
    )


def advance(
    thread: Thread | None,
    current: Evaluation,
    verdict: Classification,
    personal: bool,
    question: Prior | None,
    answered_by: frozenset[str],
    official: bool = False,
    score: float | None = None,
) -> Thread:
    """Where a conversation stands once ``current`` was judged ``verdict`` in it; ``personal``
    is whether a personal rule fired on its text, ``question`` the question it left open,
    ``official`` whether it asked for or gave official action, ``score`` what the learned
    model's first layer said of it."""
    by_default = verdict.reasons[-1:] == (DEFAULT_REASON,)
    if verdict.label == RECORD:
        left = _NEUTRAL if by_default and not (current.number and not personal) else _RECORDED
    else:
        left = _PERSONAL if personal else _NEUTRAL
    recent = (*thread.recent[1 - _HORIZON :], left) if thread is not None else (left,)
    since = 0 if official else min(_LONG_AGO, (thread.since_official if thread is not None else _LONG_AGO) + 1)
    seen, business = (thread.seen, thread.business) if thread is not None else (0, 0)
    business += verdict.label == RECORD and not by_default
    personal_talk = personal or (thread is not None and thread.personal_talk)
    return Thread(Prior(current, verdict), current.sender, question, answered_by, recent, since, score,
                  seen + 1, business, personal_talk)
