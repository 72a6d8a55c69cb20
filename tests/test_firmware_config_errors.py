"""Malformed firmware YAMLs: every problem is a FirmwareConfigError naming the file and the key, never a traceback
from deep inside the loader, and no firmware config can make ``address_map()`` freeze the daemon."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from liverec_edge.config import ConfigError, config_from_dict
from liverec_edge.mixer.firmware import FIRMWARE_DIR, PART_MAX, FirmwareConfigError, firmware_from_dict, load_firmware

BASE: dict[str, Any] = yaml.safe_load((FIRMWARE_DIR / "x32.yaml").read_text())


def _mutated(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    change(data)
    return data


@pytest.mark.parametrize("family", ["x32", "xair"])
def test_shipped_firmware_configs_load_within_the_limits(family: str) -> None:
    firmware = load_firmware(family)
    assert all(0 <= first <= last <= PART_MAX for first, last in firmware.parts.values())
    assert 0 < len(firmware.address_map()) < 5000


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda d: d["laws"].__setitem__("fader", {"law": "linf", "min": 0, "max": float("inf"), "step": 1}),
         "laws.fader: linf [0.0, inf, 1.0]: min, max and step must be finite"),
        (lambda d: d["laws"].__setitem__("fader", {"law": "linf", "min": 0, "max": 10, "step": float("nan")}),
         "laws.fader: linf"),
        (lambda d: d["laws"].__setitem__("fader", {"law": "logf", "min": 20, "max": float("inf"), "steps": 10}),
         "laws.fader: logf"),
        (lambda d: d.__setitem__("nodes", 5), "nodes: expected a mapping"),
        (lambda d: d.__setitem__(5, 1), "unknown key(s) 5"),
        (lambda d: d["parts"].__setitem__("ch", [1, 20000]), "parts.ch: expected [first, last] with 0 <= first"),
        (lambda d: d["parts"].__setitem__("ch", [32, 1]), "parts.ch"),
        (lambda d: d["parts"].__setitem__("ch", [-5, 32]), "parts.ch"),
        (lambda d: d["parts"].__setitem__("ch", [True, 32]), "parts.ch"),
        (lambda d: d.__setitem__("port", True), "port: expected 1..65535"),
    ],
    ids=["linf inf", "linf nan step", "logf inf", "nodes scalar", "int top-level key", "huge part range",
         "reversed part range", "negative part", "bool part", "bool port"],
)
def test_malformed_firmware_is_a_clear_error(change: Callable[[dict[str, Any]], None], words: str) -> None:
    with pytest.raises(FirmwareConfigError) as info:
        firmware_from_dict(_mutated(change), "desk.yaml")
    assert str(info.value).startswith("desk.yaml: ") and words in str(info.value), str(info.value)


def test_part_ranges_within_limits_still_cannot_describe_millions_of_addresses() -> None:
    def wide(data: dict[str, Any]) -> None:
        for key in data["parts"]:
            data["parts"][key] = [0, PART_MAX]

    with pytest.raises(FirmwareConfigError, match=r"more than .* addresses"):
        firmware_from_dict(_mutated(wide), "desk.yaml")


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (bytes(range(256)) * 4, "not a UTF-8 text file"),
        ("family: x32\n".encode("utf-16"), "UTF-16"),
        (b"family: x32\nfamily: xair\n", "duplicate key 'family'"),
        (b"parts: " + b"[" * 5000 + b"]" * 5000 + b"\n", "nesting deeper than"),
        (b"? [a]\n: 1\n", "a key must be a plain name"),
    ],
    ids=["binary", "utf-16", "duplicate key", "deep nesting", "list key"],
)
def test_unreadable_firmware_files_name_the_file(tmp_path: Path, data: bytes, words: str) -> None:
    path = tmp_path / "desk.yaml"
    path.write_bytes(data)
    with pytest.raises(FirmwareConfigError) as info:
        load_firmware(path)
    assert str(path) in str(info.value) and words in str(info.value), str(info.value)
    with pytest.raises(ConfigError) as caught:  # and through the config, as check-config reports it
        config_from_dict({"mixer": {"url": "x32://127.0.0.1", "firmware": str(path)}})
    assert str(path) in str(caught.value) and words in str(caught.value)
