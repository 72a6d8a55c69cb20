"""The ``liverec-edge`` command. Each sub-command lives in the module that owns the capability; that module exposes
``add_arguments(parser)`` and ``run(args) -> exit code`` and keeps its heavy imports inside ``run``."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from liverec_edge import __version__
from liverec_edge.logs import setup_logging

# numpy's BLAS would spread each small matrix product of the features over every core, where it competes with the
# vision and capture threads for no gain: one thread per product (before any command imports numpy).
for _blas_threads in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_blas_threads, "1")

#: sub-command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("liverec_edge.daemon", "run the daemon with a config file"),
    "check-config": ("liverec_edge.check_config", "validate a config file (exit 2 on error)"),
    "demo": ("liverec_edge.demo", "run the demo studio: the real daemon on simulated hardware"),
    "analyze": ("liverec_edge.analyze", "diagnose an audio, video or image file (changes nothing)"),
    "zones": ("liverec_edge.behaviour.zones_cli", "render the configured zones over a frame to a PNG"),
    "mixer": ("liverec_edge.mixer.cli", "probe, read and set a hardware desk"),
    "capture": ("liverec_edge.capture.probe", "list capture devices and measure what the camera and audio deliver"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="liverec-edge", description="A camera-aware automatic sound engineer for live-stream studios.")
    parser.add_argument("--version", action="version", version=f"liverec-edge {__version__}")
    parser.add_argument(
        "--log-level", default=None, choices=["debug", "info", "warning", "error"],
        help="stderr log level (default: the config's logging.level, else info)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(command_parser)
        command_parser.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.log_level or "info")
    try:
        return int(args._module.run(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
