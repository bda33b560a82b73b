"""The ``archiver`` command: a thin shell over the service functions, one module per command group.

Exit codes: 0 success, 1 a finding (verify found damage; a report found late records when
asked to fail on them), 2 bad input or usage. Errors name the file, line and cause.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from archiver import __version__
from archiver.cli import (
    access,
    custodian,
    disposition,
    events,
    export,
    ingest,
    init,
    reindex,
    report,
    review,
    schedules,
    search,
    transfer,
    verify,
)
from archiver.errors import ArchiverError

# The order commands appear in ``archiver --help``.
COMMAND_GROUPS = (init, ingest, report, custodian, review, schedules, events, disposition, transfer, access, search,
                  export, verify, reindex)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code."""
    parser = _parser()
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="archiver", description="Records-retention archiver for messaging apps.")
    parser.add_argument("--version", action="version", version=f"archiver {__version__}")
    parser.add_argument("--config", help="configuration file (default: $ARCHIVER_CONFIG or ./archiver.yaml)")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(commands)
    return parser
