"""The dataset tool's fault-count weights: training windows may hold more concurrent faults than the graded splits,
whose windows must not change."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tools.build_fault_dataset import main as build_main  # noqa: E402
from tools.faultsynth.windows import FAULT_COUNT_WEIGHTS, FAULTS, _pick_faults  # noqa: E402


def test_default_weights_draw_what_the_shipped_builds_drew() -> None:
    """The validation and test windows of every earlier build came from these draws: the weights, written as data
    now, must pick the same fault sets from the same generator state."""
    for index in range(300):
        rng_new, rng_old = np.random.default_rng([0, 2, index]), np.random.default_rng([0, 2, index])
        old_count = int(rng_old.choice([0, 1, 2, 3], p=[0.26, 0.46, 0.22, 0.06]))
        old = list(rng_old.choice(FAULTS, size=old_count, replace=False))
        assert _pick_faults(rng_new) == old
        assert rng_new.random() == rng_old.random()  # and leave the generator where the old code left it


def test_count_weights_set_how_many_faults_a_window_holds() -> None:
    rng = np.random.default_rng(1)
    counts = [len(_pick_faults(rng, (0.0, 0.0, 1.0, 1.0))) for _ in range(400)]
    assert set(counts) == {2, 3} and 150 < counts.count(2) < 250
    chosen = _pick_faults(np.random.default_rng(2), (0.0, 0.0, 0.0, 1.0))
    assert len(set(chosen)) == 3 and set(chosen) <= set(FAULTS)
    assert sum(FAULT_COUNT_WEIGHTS) == pytest.approx(1.0)


@pytest.mark.parametrize("value", ["a,b", "0.5,-0.1", "0,0,0", ",".join(["0.1"] * 12)])
def test_bad_train_fault_counts_are_refused_by_name(value: str, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_main(["--out", str(tmp_path / "x.npz"), "--train-fault-counts", value])
    assert "--train-fault-counts" in capsys.readouterr().err
    assert not (tmp_path / "x.npz").exists()
