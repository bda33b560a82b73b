"""``archiver init``: create an archive (configuration, key, store, catalog)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from archiver.cli import common
from archiver.services.access import ensure_first_admin
from archiver.storage.archive import init_archive


def register(commands: Any) -> None:
    """Add ``init``."""
    init = commands.add_parser("init", help="create an archive (config, key file, store, catalog)")
    init.add_argument("directory", nargs="?", default=".", help="folder to initialise (default: .)")
    init.set_defaults(handler=_init)


def _init(args: argparse.Namespace) -> int:
    directory = Path(args.directory)
    settings = common.settings_for(args, cwd=directory.resolve())
    result = init_archive(directory, settings, common.actor(settings), common.now())
    with common.open_archive(args, settings) as archive:
        first = ensure_first_admin(archive, common.actor(settings), common.now())
    kms = result.key_id.startswith("kms:")
    key = "KMS derivation root (keys/derivation-root in the store)" if kms else "key file"
    made = [what for what, new in (("archiver.yaml", result.config_created), (key, result.key_created),
                                   ("export-signing key", result.signing_key is not None)) if new]
    print(f"Archive ready in {result.directory} (key {result.key_id})"
          + (f"; created {', '.join(made)}" if made else "; already initialised"))
    if result.key_created and kms:
        print("Never schedule the KMS key for deletion and never delete keys/derivation-root: without "
              "either, nothing in the archive can be read.")
    elif result.key_created:
        print("Keep a copy of the key file somewhere safe and apart from the archive: without it "
              "nothing in the archive can be read.")
    if first is not None:
        print(f"{first.actor} is the archive's first admin, and an officer and records officer "
              f"(investigators are granted with 'archiver role grant ACTOR investigator')")
    return 0
