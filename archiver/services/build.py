"""What every entry point builds the same way from the settings: the CLI and the Lambda handlers
both call these, so a command run by hand and the same work run in AWS classify alike."""

from __future__ import annotations

from archiver.config import Settings
from archiver.core.classify import Classifier, load_rules
from archiver.core.participants import ParticipantDirectory


def build_classifier(settings: Settings) -> Classifier:
    """The classifier with the configured rules, rule overrides and participant directory."""
    participants = build_directory(settings) if settings.participants else None
    return Classifier(load_rules(settings.rules, settings.rules_overrides), participants)


def build_directory(settings: Settings) -> ParticipantDirectory:
    """The configured participant directory (empty when the settings name none)."""
    return ParticipantDirectory.from_file(settings.participants) if settings.participants else ParticipantDirectory()
