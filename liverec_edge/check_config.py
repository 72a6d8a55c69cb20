"""``liverec-edge check-config FILE``: validate a config file and say exactly what is wrong."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="YAML config file")


def run(args: argparse.Namespace) -> int:
    from liverec_edge.config import ConfigError, load_config

    try:
        load_config(args.file)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"{args.file}: ok")
    return 0
