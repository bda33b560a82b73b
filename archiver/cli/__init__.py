"""The ``archiver`` command: a thin shell over the service functions, one module per command group.

Exit codes: 0 success, 1 a finding (verify found damage; a report found late records when
asked to fail on them), 2 bad input or usage. Errors name the file, line and cause.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from importlib import import_module

from archiver import __version__
from archiver.errors import ArchiverError

# Each command module and the commands it adds, in the order of ``archiver --help``. Only the
# module of the command given is imported: each imports the services it runs, and importing them
# all took longer (0.45 s) than many commands run.
COMMAND_GROUPS: dict[str, tuple[str, ...]] = {
    "init": ("init",),
    "ingest": ("ingest", "parse", "classify", "connectors"),
    "report": ("report",),
    "custodian": ("custodian", "sweep"),
    "review": ("review",),
    "schedules": ("schedules",),
    "events": ("event",),
    "disposition": ("hold", "dispose"),
    "transfer": ("transfer",),
    "access": ("role", "case", "audit"),
    "search": ("search", "show"),
    "export": ("export",),
    "verify": ("verify",),
    "reindex": ("reindex",),
}
_GROUP_OF = {command: group for group, commands in COMMAND_GROUPS.items() for command in commands}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = _parser(_groups_for(argv))
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.handler(args))
    except ArchiverError as exc:
        print(f"archiver: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        print("archiver: interrupted; run the same command again to finish", file=sys.stderr)
        return 130


def _groups_for(argv: Sequence[str]) -> Iterable[str]:
    """The command modules ``argv`` needs: its command's; none to print the version; every one to
    list them (help, no command, or a command not known)."""
    word = _command_word(argv)
    if word in _GROUP_OF:
        return (_GROUP_OF[word],)
    if word is None and "--version" in argv and not {"-h", "--help"} & set(argv):
        return ()
    return COMMAND_GROUPS


def _command_word(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names: its first argument that is no option (``--config`` takes a value)."""
    words = iter(argv)
    for word in words:
        if word == "--config":
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def _parser(groups: Iterable[str]) -> argparse.ArgumentParser:
    """The parser with the commands of the command modules ``groups``."""
    parser = argparse.ArgumentParser(prog="archiver", description="Records-retention archiver for messaging apps.")
    parser.add_argument("--version", action="version", version=f"archiver {__version__}")
    parser.add_argument("--config", help="configuration file (default: $ARCHIVER_CONFIG or ./archiver.yaml)")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name in groups:
        import_module(f"archiver.cli.{name}").register(commands)
    return parser
