"""Parse a WhatsApp Android export with one of the fastest WhatsApp parsers on PyPI, timed.

Run by ``bench/pipeline_bench.py`` with the interpreter of ``bench/.venv-parsers`` (where
chatpack, wakit and whatstk are installed; they are never the archiver's dependencies):

    bench/.venv-parsers/bin/python bench/pypi_parsers.py chatpack|wakit|whatstk EXPORT

Prints one JSON line: messages parsed, seconds, peak RSS (kB). Each parser reads the file into
its own message list with parsed dates; system notices are dropped by all three.
"""

from __future__ import annotations

import importlib
import json
import resource
import sys
import time
from zoneinfo import ZoneInfo


def chatpack(path: str) -> int:
    import chatpack as parser

    return len(parser.parse_whatsapp(path))


def wakit(path: str) -> int:
    from wakit import export_import as parser

    messages, _ = parser.parse_lines(path)
    order, tz = parser.detect_date_order(messages, "auto"), ZoneInfo("America/Phoenix")
    return len([parser.to_ms(message, order, tz) for message in messages])


def whatstk(path: str) -> int:
    from whatstk.whatsapp.parser import df_from_whatsapp

    return len(df_from_whatsapp(path, max_size=None))  # its 50 MB guard would refuse the 1M-message chat


MODULES = {"chatpack": "chatpack", "wakit": "wakit.export_import", "whatstk": "whatstk.whatsapp.parser"}


def main() -> None:
    name, path = sys.argv[1], sys.argv[2]
    importlib.import_module(MODULES[name])  # imported before the clock starts
    started = time.perf_counter()
    count = {"chatpack": chatpack, "wakit": wakit, "whatstk": whatstk}[name](path)
    print(json.dumps({"messages": count, "seconds": time.perf_counter() - started,
                      "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


if __name__ == "__main__":
    main()
