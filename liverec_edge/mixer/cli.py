"""``liverec-edge mixer probe|get|set``: talk to a desk directly, in engineering units (for installers).

Examples::

    liverec-edge mixer probe --mixer x32://192.168.1.50
    liverec-edge mixer get --mixer xair://192.168.1.60 ch01.fader ch01.hpf.freq
    liverec-edge mixer set --mixer x32://192.168.1.50 ch01.hpf.freq=120 ch01.eq.2.type=PEQ ch01.dyn.ratio=4

Exit status: 0 done; 1 the desk did not answer or did not take a value; 2 bad command line (URL, name, value).
"""

from __future__ import annotations

import argparse

EXIT_OK, EXIT_DESK, EXIT_USAGE = 0, 1, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="mixer_command", metavar="ACTION")
    sub.required = True

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--mixer", required=True, metavar="URL",
                       help="x32://HOST[:PORT] (X32/M32, port 10023) or xair://HOST[:PORT] (X-Air/MR18, port 10024)")
        p.add_argument("--firmware", default=None, metavar="NAME|PATH",
                       help="firmware config (default: the URL's family: x32 or xair)")
        p.add_argument("--timeout", type=float, default=2.0, metavar="S",
                       help="give up when the desk has not answered within this many seconds (default 2)")

    probe = sub.add_parser("probe", help="print the desk's model, firmware and name")
    common(probe)
    get = sub.add_parser("get", help="read parameters (names like ch01.fader, ch01.hpf.freq)")
    common(get)
    get.add_argument("params", nargs="+", metavar="PARAM")
    set_ = sub.add_parser("set", help="set parameters (PARAM=VALUE in engineering units) and read them back")
    common(set_)
    set_.add_argument("assignments", nargs="+", metavar="PARAM=VALUE")


def run(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import sys

    from liverec_edge.mixer.backend import MixerError
    from liverec_edge.mixer.firmware import FirmwareConfigError

    if getattr(args, "log_level", None) is None:
        # The command prints its own errors; the backend's connection log lines would only repeat them.
        logging.getLogger("liverec_edge.mixer").setLevel(logging.CRITICAL)
    try:
        return asyncio.run(_main(args))
    except (_UsageError, FirmwareConfigError) as exc:
        print(f"liverec-edge mixer: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except MixerError as exc:
        print(f"liverec-edge mixer: {exc}", file=sys.stderr)
        return EXIT_DESK


class _UsageError(Exception):
    pass


async def _main(args: argparse.Namespace) -> int:
    from liverec_edge.mixer.firmware import load_firmware
    from liverec_edge.mixer.laws import EngValue, LawError
    from liverec_edge.mixer.osc import OscConsole
    from liverec_edge.mixer.settings import parse_mixer_url
    from liverec_edge.mixer.strip import ParamNameError

    try:
        url = parse_mixer_url(args.mixer)
    except ValueError as exc:
        raise _UsageError(str(exc)) from None
    if url.scheme not in ("x32", "xair", "sim"):
        raise _UsageError(f"{args.mixer}: the mixer command talks to OSC desks (x32://, xair://), not {url.scheme}://")
    firmware = load_firmware(args.firmware or url.default_firmware)

    # Validate everything before touching the network: a typo must not half-apply a list of settings.
    wanted: list[tuple[str, EngValue]] = []
    names: list[str] = []
    try:
        if args.mixer_command == "get":
            names = [firmware.resolve(p).name for p in args.params]
        elif args.mixer_command == "set":
            for item in args.assignments:
                name, sep, text = item.partition("=")
                if not sep or not text.strip():
                    raise _UsageError(f"{item!r}: expected PARAM=VALUE, e.g. ch01.fader=-10")
                resolved = firmware.resolve(name.strip())
                try:
                    wanted.append((resolved.name, resolved.law.parse(text.strip())))
                except LawError as exc:
                    raise _UsageError(f"{item}: {exc}") from None
    except (ParamNameError, LawError) as exc:
        raise _UsageError(str(exc)) from None

    simulator = None
    host, port = url.host, url.port
    if url.scheme == "sim":
        from liverec_edge.mixer.simulator import MixerSimulator

        simulator = MixerSimulator(firmware, "127.0.0.1", 0)
        await simulator.start()
        host, port = "127.0.0.1", simulator.port
    desk = OscConsole(firmware, host, port, reply_timeout_s=min(0.25, args.timeout / 4), retries=3)
    try:
        info = await desk.connect(args.timeout)
        if args.mixer_command == "probe":
            print(f"model     {info.model}")
            print(f"firmware  {info.firmware}")
            print(f"name      {info.name}")
            print(f"ip        {info.ip}")
            print(f"config    {firmware.family} ({firmware.title}) at {host}:{port}")
            return EXIT_OK
        if args.mixer_command == "get":
            for name in names:
                _print_value(firmware, name, await desk.get(name))
            return EXIT_OK
        status = EXIT_OK
        for name, value in wanted:
            await desk.set(name, value)
        for name, value in wanted:
            expected = desk.snap(name, value)
            held = await desk.get(name)
            _print_value(firmware, name, held, asked=value)
            if held != expected:
                law = firmware.resolve(name).law
                print(f"  warning: the desk holds {law.format(held)}, expected {law.format(expected)} "
                      "(another client or the surface may have changed it)")
                status = EXIT_DESK
        return status
    finally:
        await desk.close()
        if simulator is not None:
            await simulator.stop()


def _print_value(firmware: object, name: str, value: object, asked: object = None) -> None:
    from liverec_edge.mixer.firmware import FirmwareConfig

    assert isinstance(firmware, FirmwareConfig)
    law = firmware.resolve(name).law
    unit = f" {law.unit}" if law.unit else ""
    text = f"{name} = {law.format(value)}{unit}"  # type: ignore[arg-type]
    if asked is not None and law.format(asked) != law.format(value):  # type: ignore[arg-type]
        shown = f"{asked:g}" if isinstance(asked, float) else str(asked)
        text += f"  (asked {shown}{unit}; snapped to the desk's grid)"
    print(text)
