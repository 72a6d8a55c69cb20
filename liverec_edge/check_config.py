"""``liverec-edge check-config FILE``: validate a config file and say exactly what is wrong.

Beyond the config's own keys it loads what the config points at, as the daemon would at start: the strategy table,
the fault model's folder (``model.json`` must parse; the TFLite files are left to the daemon) and the vision models'
folder, and it checks that every channel role the strategies use is in ``mixer.channels``. Errors exit 2; a
missing role or a missing default model folder is a warning (the daemon runs, without that part).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI imports this module for its arguments; the config's models load only when it runs
    from liverec_edge.config import Config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="YAML config file")


def run(args: argparse.Namespace) -> int:
    from liverec_edge.config import ConfigError, load_config

    try:
        config = load_config(args.file)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    errors, warnings = check_references(config)
    for warning in warnings:
        print(f"{args.file}: warning: {warning}", file=sys.stderr)
    if errors:
        print(ConfigError(str(args.file), errors), file=sys.stderr)
        return 2
    print(f"{args.file}: ok")
    return 0


def check_references(config: Config) -> tuple[list[str], list[str]]:
    """Problems with the files and channels a valid config refers to: ``(errors, warnings)``, one line each, each
    starting with the key path to fix."""
    errors: list[str] = []
    warnings: list[str] = []
    _check_strategies(config, errors, warnings)
    _check_model_dir("audio.model_dir", config.audio.model_dir, config.audio.resolved_model_dir(), errors, warnings,
                     metadata="model.json")
    _check_model_dir("vision.models_dir", config.vision.models_dir, config.vision.resolved_models_dir(), errors,
                     warnings)
    return errors, warnings


def _check_strategies(config: Config, errors: list[str], warnings: list[str]) -> None:
    from liverec_edge.audio.stage import channel_map
    from liverec_edge.audio.strategy import StrategyError, StrategyTable

    where = "audio.strategies" + ("" if config.audio.strategies is not None else " (the packaged default)")
    try:
        table = StrategyTable.load(config.audio.resolved_strategies())
    except StrategyError as exc:
        errors.extend(f"{where}: {exc.source}: {problem}" for problem in exc.problems)
        return
    # The same placeholder map the audio stage builds ({ch} is the presenter's strip), so the check cannot drift.
    strips = channel_map(config.mixer.channels)
    for role, fault_types in sorted(table.roles().items()):
        if role in strips:
            continue
        for fault_type in fault_types:
            warnings.append(
                f"mixer.channels: no {role!r} channel, so the {fault_type} strategy's actions on {{{role}}} will be "
                f"skipped (add e.g. `{role}: 5` under mixer.channels to enable them)")


def _check_model_dir(key: str, configured: Path | None, resolved: Path, errors: list[str], warnings: list[str],
                     metadata: str | None = None) -> None:
    # A folder the config names must be there; the installation's default may be missing on a box that has not
    # fetched its models yet, which the daemon survives (without that analysis), so that is only a warning.
    report = errors if configured is not None else warnings
    label = f"{key}: {resolved}" if configured is not None else f"{key} (default {resolved})"
    if not resolved.is_dir():
        report.append(f"{label}: not a directory" + ("" if resolved.exists() else " (it does not exist)"))
        return
    if metadata is None:
        return
    meta_path = resolved / metadata
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        report.append(f"{label}: has no {metadata}")
        return
    except OSError as exc:
        report.append(f"{label}: cannot read {metadata}: {exc.strerror or exc}")
        return
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        report.append(f"{label}: {metadata} is not valid JSON: {exc}")
        return
    if not isinstance(meta, dict):
        report.append(f"{label}: {metadata} is not a JSON object (got {type(meta).__name__})")
