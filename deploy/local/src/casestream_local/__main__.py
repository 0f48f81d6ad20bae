"""``casestream-local up|down|status``: the whole system on this machine."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from casestream_local.stack import Stack, StackConfig, StackError


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="casestream-local",
        description="Run casestream locally: PostgreSQL, a Kafka-compatible broker, an SMTP "
        "sink and the five services. Settings: see deploy/local/README.md.",
    )
    parser.add_argument("--data-dir", type=Path, default=None, help="default: <repo>/.data")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start everything (what already runs is reused)")
    up.add_argument("--no-demo", action="store_true", help="skip the demo configuration")
    commands.add_parser("down", help="stop everything `up` started")
    commands.add_parser("status", help="what runs, and whether the services are ready")
    args = parser.parse_args(argv)

    config = StackConfig(data_dir=args.data_dir)
    if args.command == "up" and args.no_demo:
        config.load_demo = False
    stack = Stack(config)
    try:
        if args.command == "up":
            stack.up()
        elif args.command == "down":
            stack.down()
        else:
            _print_status(stack)
    except StackError as error:
        print(f"\ncasestream-local {args.command} failed: {error}", file=sys.stderr)
        if args.command == "up":
            print("What did start is still running; stop it with: make down", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("\nInterrupted; stop what started with: make down", file=sys.stderr)
        sys.exit(130)


def _print_status(stack: Stack) -> None:
    rows = stack.status()
    if not rows:
        print("Nothing recorded as running (casestream-local up starts it).")
        return
    for row in rows:
        state = "running" if row["running"] else "stopped"
        if "ready" in row:
            state += ", ready" if row["ready"] else ", not ready"
        port = f":{row['port']}" if row["port"] else ""
        print(f"  {row['name']:<15} pid {row['pid']:<8} {port:<7} {state}")


if __name__ == "__main__":
    main()
