"""The ``mixer`` config section: URLs, channel roles, bounds and firmware checks give errors naming the key."""

from __future__ import annotations

import pytest

from liverec_edge.config import ConfigError, config_from_dict
from liverec_edge.mixer.settings import MixerSettings, parse_mixer_url


def test_urls_and_default_ports() -> None:
    assert parse_mixer_url("x32://192.168.1.50") == parse_mixer_url("x32://192.168.1.50:10023")
    assert parse_mixer_url("xair://mixer.local").port == 10024
    assert parse_mixer_url("xair://10.0.0.9:9000").port == 9000
    assert parse_mixer_url("sim://xair").default_firmware == "xair"
    for bad in ("x32://", "http://desk", "x32://desk:70000", "desk"):
        with pytest.raises(ValueError, match="mixer URL"):
            parse_mixer_url(bad)


def test_defaults_protect_the_presenter_and_gains() -> None:
    settings = MixerSettings()
    assert settings.rate_limit_hz == 100.0  # 10 ms between datagrams, as the notes' tools pace
    assert [p for p, _ in settings.bounds_for("ch01.on")] == ["presenter_never_muted"]
    assert [p for p, b in settings.bounds_for("ch07.trim") if b.max_raise == 3.0] == ["ch*.trim"]
    assert settings.bounds_for("ch07.hpf.freq") == []


@pytest.mark.parametrize(
    ("mixer", "message"),
    [
        ({"url": "tcp://x"}, "mixer.url"),
        ({"url": "xair://1.2.3.4", "channels": {"presenter": 20}}, "channel 20 is not on xair"),
        ({"firmware": "m99"}, "shipped: x32, xair"),
        ({"channels": {"ch": 3}}, "not ch/bus/dca/main"),
        ({"bounds": {"ch01.fader": {"min": 0, "max": -10}}}, "min 0.0 is above max -10.0"),
        ({"bounds": {"ch01.fader": {"maxraise": 3}}}, "mixer.bounds.ch01.fader.maxraise: unknown key"),
        ({"xremote_renew_s": 12}, "mixer.xremote_renew_s"),
        ({"ramp_rate_hz": 200}, "mixer.ramp_rate_hz"),
        ({"rate_limit_hz": 200}, "mixer.rate_limit_hz"),  # faster than the notes' 10 ms pacing
        ({"url": "soft://", "channels": {}}, "mixer.channels: the presenter channel is required"),
        ({"channels": {"music": 5}}, "the presenter channel is required"),
        ({"reply_timeout_s": float("inf")}, "mixer.reply_timeout_s"),
        ({"reply_timeout_s": 1e300}, "mixer.reply_timeout_s"),
        ({"connect_backoff_max_s": float("nan")}, "mixer.connect_backoff_max_s"),
        ({"bounds": {"ch*.fader": {"min": float("nan")}}}, "mixer.bounds.ch*.fader.min"),
        ({"bounds": {"ch*.fader": {"max_raise": float("inf")}}}, "mixer.bounds.ch*.fader.max_raise"),
    ],
)
def test_bad_settings_are_named(mixer: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_dict({"mixer": mixer})
    assert message in str(caught.value)
