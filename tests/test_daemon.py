"""The daemon as systemd runs it: a real process, a real NOTIFY_SOCKET, real signals, a real control port.

The capture stage here is the stand-in from ``test_daemon_standin.py`` (frames on a timer, freezable with a file);
``test_daemon_capture.py`` repeats the essentials with the real capture stage and the real CLI.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import test_daemon_standin as support
from test_daemon_standin import (
    STALL_S,
    WATCHDOG_USEC,
    NotifyListener,
    OscClient,
    next_status_frames,
    standin_argv,
    write_config,
)

notify = support.notify_fixture
launch = support.launch_fixture

def test_ready_then_watchdog_and_pings_stop_while_the_pipeline_stalls(
    tmp_path: Path, notify: NotifyListener, launch
) -> None:
    freeze = tmp_path / "freeze"
    daemon = launch(standin_argv(write_config(tmp_path / "c.yaml"), freeze))

    assert notify.wait_for(lambda m: m.startswith("READY=1"), 10), daemon.log()
    assert notify.wait_for(lambda m: m == "WATCHDOG=1", 3), "no watchdog ping after READY"

    freeze.touch()  # capture stops producing; the process and its event loop carry on
    assert daemon.wait_log(r"pipeline stalled.*stages=capture", STALL_S + 3), daemon.log()
    notify.collect(0.5)  # a ping already in flight when the stall was noticed
    quiet = notify.collect(6 * WATCHDOG_USEC / 1e6)
    assert "WATCHDOG=1" not in quiet, quiet
    assert any(m.startswith("STATUS=stalled: capture") for m in quiet + notify.messages), notify.messages[-8:]

    freeze.unlink()
    assert notify.wait_for(lambda m: m == "WATCHDOG=1", 3), "pings did not resume"
    assert daemon.wait_log(r"pipeline progressing again", 2)

    daemon.signal(signal.SIGTERM)
    assert notify.wait_for(lambda m: m == "STOPPING=1", 3)
    assert daemon.wait(5) == 0


def test_sigterm_during_capture_exits_0_within_2_s(tmp_path: Path, notify: NotifyListener, launch) -> None:
    daemon = launch(standin_argv(write_config(tmp_path / "c.yaml")))
    assert notify.wait_for(lambda m: m.startswith("READY=1"), 10), daemon.log()
    assert next_status_frames(notify) > 0  # frames are flowing: this is a stop *during* capture
    sent = time.monotonic()
    daemon.signal(signal.SIGTERM)
    code = daemon.wait(5)
    took = time.monotonic() - sent
    assert code == 0, daemon.log()
    assert took < 2.0, f"took {took:.2f} s"
    assert "daemon stopped" in daemon.log()


def test_a_stage_wedged_in_stop_cannot_hold_the_exit(tmp_path: Path, notify: NotifyListener, launch) -> None:
    daemon = launch(standin_argv(write_config(tmp_path / "c.yaml"), None, "--wedged-stop"))
    assert notify.wait_for(lambda m: m.startswith("READY=1"), 10), daemon.log()
    sent = time.monotonic()
    daemon.signal(signal.SIGINT)  # Ctrl-C when run by hand: the same clean stop as SIGTERM
    assert daemon.wait(5) == 0, daemon.log()
    took = time.monotonic() - sent
    assert took < 2.0, f"took {took:.2f} s"
    assert "abandoning threads still busy at exit" in daemon.log()
    assert "stopping reason=SIGINT" in daemon.log()


def test_sighup_reload_keeps_capture_running_and_rejects_a_bad_file(
    tmp_path: Path, notify: NotifyListener, launch
) -> None:
    config = write_config(tmp_path / "c.yaml")
    daemon = launch(standin_argv(config))
    assert notify.wait_for(lambda m: m.startswith("READY=1"), 10), daemon.log()
    port = daemon.control_port()
    tablet = OscClient(port)
    try:
        assert tablet.status() is not None, "loopback is allowed by the first config"
        before = next_status_frames(notify)

        # A valid change: the allowlist (live), the log level (live) and a capture key (needs a restart).
        write_config(config, control={"allow": ["10.9.9.9"]}, logging={"level": "debug"},
                     capture={"video_ring_seconds": 5})
        mark = len(daemon.log())
        daemon.signal(signal.SIGHUP)
        assert notify.wait_for(lambda m: m.startswith("RELOADING=1"), 3)
        assert notify.wait_for(lambda m: m.startswith("READY=1"), 3)
        reloaded = daemon.wait_log(r"config reloaded file=\S+ applied=(\S+)", 3, after=mark)
        assert reloaded, daemon.log()[mark:]
        assert {"control.allow", "logging.level"} <= set(reloaded.group(1).split(","))
        assert daemon.wait_log(r"take effect only when the daemon restarts keys=capture.video_ring_seconds", 1, mark)
        notify.skip_pending()  # a STATUS from before the reload must not count
        after = next_status_frames(notify)
        assert after > before, "the frame counter restarted or stopped: capture was disturbed by the reload"
        assert tablet.status(timeout=0.7) is None, "the new allowlist excludes loopback: no reply expected"

        # An invalid file: the running config stays, the error names the key, capture carries on.
        config.write_text("daemon:\n  watchdog_stall_s: -3\ncontrol: {bind: 127.0.0.1, port: 0}\n")
        mark = len(daemon.log())
        daemon.signal(signal.SIGHUP)
        rejected = daemon.wait_log(r"config reload rejected.*problem=\"?daemon\.watchdog_stall_s", 3, after=mark)
        assert rejected, daemon.log()[mark:]
        assert tablet.status(timeout=0.7) is None, "the rejected file must not have replaced the allowlist"
        notify.skip_pending()
        assert next_status_frames(notify) > after
        assert notify.wait_for(lambda m: m == "WATCHDOG=1", 3), "still healthy, still pinging"
        assert daemon.proc.poll() is None
        assert "stage running stage=capture restarts=1" not in daemon.log()

        # A YAML syntax error is rejected the same way.
        config.write_text("daemon: [unclosed\n")
        mark = len(daemon.log())
        daemon.signal(signal.SIGHUP)
        assert daemon.wait_log(r"config reload rejected.*YAML syntax error", 3, after=mark), daemon.log()[mark:]
        assert daemon.proc.poll() is None
    finally:
        tablet.close()
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(5) == 0
