"""Bad inputs to the fault stage and the fault model: an unmapped channel role, a broken ``model.json``.

The product rule: bad input gets a clear error naming what is wrong; the fault stage never crashes on it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from liverec_edge.audio.analysis import FaultAnalyser, StreamingFaultAnalyser
from liverec_edge.audio.model import FaultModel
from liverec_edge.audio.settings import AudioSettings
from liverec_edge.audio.stage import FaultStage
from liverec_edge.config import config_from_dict
from liverec_edge.control.state import ControlState
from liverec_edge.media import decode_audio
from liverec_edge.pipeline import TOPIC_ACTIONS, TOPIC_AUDIO, TOPIC_TAGS, EventBus, StageContext
from liverec_edge.tflite import ModelError
from liverec_edge.types import FAULT_TYPES, AudioBlock, MixerCommand, Tag

RATE = 48_000
MUSIC = "music/Kevin_MacLeod_-_Vibe_Ace.ogg"


class MusicHeard:
    """Plays the model: every window holds background music (the verdict the default channel map cannot act on)."""

    window_frames = 100
    thresholds = dict.fromkeys(FAULT_TYPES, 0.5)

    def scores(self, window: np.ndarray) -> np.ndarray:
        out = np.full(len(FAULT_TYPES), 0.02, np.float32)
        out[FAULT_TYPES.index("background_music")] = 0.95
        return out


def _music(shared_media: Path, seconds: float) -> np.ndarray:
    x, _ = decode_audio(shared_media / MUSIC, RATE)
    x = x[10 * RATE: int((10 + seconds) * RATE)]
    return (0.3 * x / np.max(np.abs(x))).astype(np.float32)


def _run_stage(config: Any, audio: np.ndarray, tag: Tag, seconds: float) -> tuple[list[MixerCommand], BaseException
                                                                                  | None, FaultStage]:
    """Start a real fault stage (no model on disk: its stream is replaced by one with the music stand-in), publish
    the tag and the audio as the capture bus would (100 ms blocks), and collect the mixer commands it sends."""

    async def scenario() -> tuple[list[MixerCommand], BaseException | None, FaultStage]:
        ctx = StageContext(config, bus=EventBus(), control=ControlState(armed=True))
        actions = ctx.bus.subscribe(TOPIC_ACTIONS, owner="test", maxsize=1000)
        stage = FaultStage()
        await stage.start(ctx)
        stage.stream = StreamingFaultAnalyser(FaultAnalyser(config.audio, model=MusicHeard()), RATE)
        runner = asyncio.create_task(stage.run(ctx))
        ctx.bus.publish(TOPIC_TAGS, tag)
        block = RATE // 10
        for a in range(0, audio.size, block):
            ctx.bus.publish(TOPIC_AUDIO, AudioBlock(a / RATE, audio[a: a + block, None], RATE))
            if a // block == int(tag.end * 10):
                ctx.bus.publish(TOPIC_TAGS, Tag(tag.id, tag.behaviour, tag.parts, tag.start, tag.end,
                                                tag.confidence, open=False))
            await asyncio.sleep(0.02)
        await asyncio.sleep(seconds)
        failure: BaseException | None = None
        if runner.done():
            failure = runner.exception()
        else:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
        await stage.stop()
        return actions.drain(), failure, stage

    return asyncio.run(scenario())


def test_an_unmapped_channel_role_skips_only_its_actions_and_never_stops_the_stage(
        tmp_path: Path, shared_media: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The default channel map has only the presenter; a music strategy ducks ``{music}``. Music heard in a tag
    window: the ``{music}`` action is skipped with one warning naming the fault, the role and ``mixer.channels``,
    the strategy's presenter action still goes to the desk, and the stage keeps running (it used to raise KeyError
    out of ``run``, and the daemon disabled it after five restarts)."""
    strategies = tmp_path / "strategies.yaml"
    strategies.write_text(
        "strategies:\n"
        "  background_music:\n"
        "    actions:\n"
        "      - {param: '{music}.fader', mode: relative, value: -10, min: -90}\n"
        "      - {param: '{ch}.eq.on', value: 1}\n"
        "      - {param: '{music}.on', value: 0}\n")
    config = config_from_dict({"audio": {"model_dir": str(tmp_path / "no_model"), "strategies": str(strategies)}})
    assert dict(config.mixer.channels) == {"presenter": 1}  # the default map: no music channel
    tag = Tag("t1", "hand_at_mic", ("hand",), 0.5, 3.0, 0.9, open=True)
    with caplog.at_level(logging.WARNING, logger="liverec_edge.audio"):
        commands, failure, stage = _run_stage(config, _music(shared_media, 4.5), tag, 1.5)
    assert failure is None, f"the fault stage stopped: {failure!r}"
    applied = [c for c in commands if c.kind == "apply" and c.owner == "t1"]
    assert applied, commands
    params = {a.param for c in applied for a in c.actions}
    assert params == {"ch01.eq.on"}, params  # the presenter's action survives, nothing is guessed for music
    assert [c for c in commands if c.kind == "release" and c.owner == "t1"]  # the tag ended: released
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
                and ("music" in r.getMessage() or getattr(r, "fields", {}).get("role") == "music")]
    assert len(warnings) == 1, warnings  # once per (fault type, role), however often music is heard
    assert "background_music" in warnings[0] and "'music'" in warnings[0] and "mixer.channels" in warnings[0]
    assert stage.faults_found >= 1


def test_the_shipped_strategies_with_the_default_channel_map_keep_the_stage_running(
        tmp_path: Path, shared_media: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The packaged table and the default config, as a fresh install runs them (the review's crash): music heard
    in a tag window never takes the stage down, and the operator is told once how to give the ducking a channel."""
    config = config_from_dict({"audio": {"model_dir": str(tmp_path / "no_model")}})
    tag = Tag("t1", "hand_at_mic", ("hand",), 0.5, 3.0, 0.9, open=True)
    with caplog.at_level(logging.WARNING, logger="liverec_edge.audio"):
        commands, failure, stage = _run_stage(config, _music(shared_media, 4.5), tag, 1.0)
    assert failure is None, f"the fault stage stopped: {failure!r}"
    assert stage.faults_found >= 1
    assert not [a for c in commands for a in c.actions if "music" in a.param]
    told = [r.getMessage() for r in caplog.records if "mixer.channels" in r.getMessage()]
    assert len(told) == 1 and "background_music" in told[0], told


def test_a_failing_strategy_lookup_costs_that_fault_its_actions_never_the_stage(
        tmp_path: Path, shared_media: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Whatever one fault's strategy lookup raises (here: every background_music lookup), the stage keeps running,
    says so once, and the other strategies (the pre-emptive one of the hand at the mic) still reach the desk."""
    from liverec_edge.audio.strategy import StrategyTable

    real = StrategyTable.actions_for

    def broken(self: StrategyTable, event: Any, *args: Any, **kwargs: Any) -> Any:
        if event.type == "background_music":
            raise RuntimeError("a bug in one strategy")
        return real(self, event, *args, **kwargs)

    monkeypatch.setattr(StrategyTable, "actions_for", broken)
    config = config_from_dict({"audio": {"model_dir": str(tmp_path / "no_model")}})
    tag = Tag("t1", "hand_at_mic", ("hand",), 0.5, 3.0, 0.9, open=True)
    with caplog.at_level(logging.ERROR, logger="liverec_edge.audio"):
        commands, failure, stage = _run_stage(config, _music(shared_media, 4.5), tag, 1.0)
    assert failure is None, f"the fault stage stopped: {failure!r}"
    assert stage.faults_found >= 1  # the music is still reported
    assert [c for c in commands if c.kind == "apply" and c.owner == "t1/pre" and c.actions]
    errors = [r for r in caplog.records if "strategy lookup failed" in r.getMessage()]
    assert len(errors) == 1 and r"a bug in one strategy" in str(errors[0].fields)


def test_a_model_that_fails_to_load_in_any_way_degrades_the_stage(tmp_path: Path, models_dir: Path) -> None:
    """A broken model.json (here ``files`` as a list: it used to be an AttributeError the stage did not expect)
    leaves the stage running without the model, saying why, as a missing model does."""
    folder = tmp_path / "faults"
    shutil.copytree(models_dir / "faults", folder)
    meta = json.loads((folder / "model.json").read_text())
    meta["files"] = ["x"]
    (folder / "model.json").write_text(json.dumps(meta))
    config = config_from_dict({"audio": {"model_dir": str(folder)}})

    async def scenario() -> FaultStage:
        stage = FaultStage()
        await stage.start(StageContext(config, bus=EventBus(), control=ControlState(armed=True)))
        return stage

    stage = asyncio.run(scenario())
    assert stage.stream is None
    assert "model.json" in str(stage.health()["problem"]) and "files" in str(stage.health()["problem"])


def test_an_unexpected_error_while_loading_the_model_degrades_the_stage(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Not only ModelError/OSError/ValueError: whatever the loader raises, the stage starts without the model (a
    restart would only fail again, and after five the daemon disables the stage and its pre-emptive strategies)."""
    import liverec_edge.audio.analysis as analysis

    def exploding(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("interpreter crashed")

    monkeypatch.setattr(analysis, "FaultAnalyser", exploding)
    config = config_from_dict({})

    async def scenario() -> FaultStage:
        stage = FaultStage()
        await stage.start(StageContext(config, bus=EventBus(), control=ControlState(armed=True)))
        return stage

    stage = asyncio.run(scenario())
    assert stage.stream is None and stage.table is not None
    assert "interpreter crashed" in str(stage.health()["problem"])


def _copy_model(models_dir: Path, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    target = tmp_path / "faults"
    shutil.copytree(models_dir / "faults", target)
    return target, json.loads((target / "model.json").read_text())


def _broken(meta: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``meta`` with the dotted ``path`` set to ``value`` (``...`` deletes it)."""
    broken = json.loads(json.dumps(meta))
    *parents, last = path.split(".")
    node = broken
    for key in parents:
        node = node[key]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return broken


N_CHANNELS = 96  # the shipped model: 64 mels + 32 extra channels
BAD_METADATA = [
    ("files.classifier", ..., "files.classifier"),
    ("files", ["fault_classifier_int8.tflite"], "files"),
    ("files.classifier", 5, "files.classifier"),
    ("files.classifier", "../../../etc/passwd", "files.classifier"),
    ("sha256", ["x"], "sha256"),
    ("sha256", 5, "sha256"),
    ("sha256.classifier", 5, "sha256.classifier"),
    ("norm.std", [0.0] * N_CHANNELS, "norm.std[0]"),
    ("norm.std", [1.0] * (N_CHANNELS - 1) + [-1.0], "norm.std[95]"),
    ("norm.std", [float("inf")] * N_CHANNELS, "norm.std[0]"),
    ("norm.mean", [float("nan")] * N_CHANNELS, "norm.mean[0]"),
    ("norm.mean", ["a"] * N_CHANNELS, "norm.mean[0]"),
    ("norm.mean", [0.0] * 3, "norm.mean"),
    ("norm", [1, 2], "norm"),
    ("thresholds.hum", float("nan"), "thresholds.hum"),
    ("thresholds.hum", -1.0, "thresholds.hum"),
    ("thresholds.hum", 1.5, "thresholds.hum"),
    ("thresholds.hum", "high", "thresholds.hum"),
    ("thresholds.hum", ..., "thresholds.hum"),
    ("thresholds", [0.5], "thresholds"),
    ("window_frames", "abc", "window_frames"),
    ("window_frames", 0, "window_frames"),
    ("with_mask", "no", "with_mask"),
    ("extra_features", "mains_lines", "extra_features"),
    ("feature_params", None, "feature_params"),
    ("feature_params.n_fft", "x", "feature_params.n_fft"),
    ("feature_params.log_floor", 0.0, "feature_params.log_floor"),
    ("feature_params.hop", 160, "feature_params.hop"),
    ("mask_floor", "x", "mask_floor"),
    ("labels", None, "labels"),
]


@pytest.mark.parametrize(("path", "value", "key"), BAD_METADATA, ids=[f"{p}={v!r}"[:40] for p, v, _ in BAD_METADATA])
def test_bad_model_json_is_a_model_error_naming_the_file_and_the_key(models_dir: Path, tmp_path: Path, path: str,
                                                                      value: Any, key: str) -> None:
    target, meta = _copy_model(models_dir, tmp_path)
    (target / "model.json").write_text(json.dumps(_broken(meta, path, value)))
    with pytest.raises(ModelError) as caught:
        FaultModel.load(target)
    message = str(caught.value)
    assert str(target / "model.json") in message
    assert f"{key}:" in message, message


def test_model_json_that_is_not_an_object_is_a_model_error(models_dir: Path, tmp_path: Path) -> None:
    target, _ = _copy_model(models_dir, tmp_path)
    for text in ("[1, 2]", "null", "5"):
        (target / "model.json").write_text(text)
        with pytest.raises(ModelError, match="top level"):
            FaultModel.load(target)


def test_the_shipped_model_json_passes_the_checks(models_dir: Path) -> None:
    model = FaultModel.load(models_dir / "faults")
    assert model.window_frames == 100 and set(model.thresholds) == set(FAULT_TYPES)


def test_analyser_reports_a_bad_model_json_as_a_model_error(models_dir: Path, tmp_path: Path) -> None:
    """The daemon's and analyze's entry point: a model error, never a KeyError/TypeError escaping the loader."""
    target, meta = _copy_model(models_dir, tmp_path)
    (target / "model.json").write_text(json.dumps(_broken(meta, "sha256", [1])))
    with pytest.raises(ModelError, match="sha256"):
        FaultAnalyser(AudioSettings(model_dir=target))
