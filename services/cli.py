"""The `lanewatch` command line: one entry point, one subcommand per job.

Each subcommand lives in `services/commands/<name>.py` with `register(sub)`
adding its parser and pointing it at a `run(args) -> int`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from pydantic import ValidationError

# On small shared machines OpenMP's default busy-waiting makes two torch threads
# slower than one (measured: 3.3 against 20 images/s training at 416); passive
# waiting must be set before torch loads, and every command loads it lazily.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__all__ = ["main"]

# in the order `lanewatch --help` lists them
COMMANDS = ("synth", "sheet", "rescreen", "train", "anchors", "evaluate", "detect", "export", "stack", "serve", "console", "demo", "bench")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lanewatch",
        description="Screen X-ray baggage scans from conveyor lanes: simulate, train, evaluate, serve.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run `lanewatch COMMAND --help` for the options of one command.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"services.commands.{name}").register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `lanewatch` command."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)
    args.argv = argv  # for commands that print a command to run next (`train`'s resume line)
    try:
        return args.func(args)
    except ValidationError as err:  # settings: one line per problem, named by its LANEWATCH_* variable
        for e in err.errors(include_url=False):
            where = "_".join(str(p) for p in e["loc"]).upper()
            msg = e["msg"].removeprefix("Value error, ")
            print(f"lanewatch {args.command}: error: {f'LANEWATCH_{where}: ' if where else ''}{msg}", file=sys.stderr)
        return 2
    except (ValueError, OSError) as err:
        print(f"lanewatch {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: a line, not a traceback; 128 + SIGINT, as shells report it
        print(f"\nlanewatch {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
