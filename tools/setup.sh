#!/usr/bin/env bash
# Set up a fresh machine and run the demo or the tests: `bash tools/setup.sh demo [ARGS]` / `bash tools/setup.sh test [ARGS]`.
# Installs the Debian packages (when run as root with apt), a virtualenv in .venv with the project, and the
# pinned models; then runs the demo or the README's test suite. Idempotent: a second run only checks.
# `bash tools/setup.sh train [ARGS]` sets up the fault-model training tools (TensorFlow, and fluidsynth, the GM
# soundfonts and flite that render the dataset's extra music and talkers); with ARGS it runs
# tools/train_fault_model.py ARGS under nice, without it only prints the commands.
set -euo pipefail
mode=${1:-test}; shift || true
cd "$(dirname "$0")/.."

APT_DEMO=(espeak-ng ffmpeg)
APT_TEST=(libasound2-dev alsa-utils espeak-ng sox ffmpeg pkg-config systemd gcc python3-dev)
# train only: tools/faultsynth/rendered.py renders music (fluidsynth; FluidR3 for train, TimGM6mb for val) and talkers
# (flite); tools/faultsynth/soundtracks.py reads the produced music of two game-soundtrack packages, and
# tools/faultsynth/voices.py the held-out word voices that tools/fault_model_report.py --voice-check grades with
APT_TRAIN=(espeak-ng ffmpeg fluidsynth fluid-soundfont-gm timgm6mb-soundfont flite wesnoth-1.16-music warzone2100-music
           ktuberling-data)

apt_install() {
  command -v apt-get >/dev/null || { echo "setup: no apt-get; install ${*} yourself" >&2; return 0; }
  local missing=()
  for pkg in "$@"; do dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg"); done
  # libsystemd-dev must match the installed libsystemd0 exactly, or apt upgrades systemd itself.
  if [ "$mode" = test ] && ! dpkg-query -W -f='${Status}' libsystemd-dev 2>/dev/null | grep -q "ok installed"; then
    missing+=("libsystemd-dev=$(dpkg-query -W -f='${Version}' libsystemd0)")
  fi
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip

case "$mode" in
  demo)
    apt_install "${APT_DEMO[@]}"
    .venv/bin/python -m pip install -q -e .
    .venv/bin/python tools/fetch_models.py
    exec .venv/bin/liverec-edge demo "$@"
    ;;
  test)
    apt_install "${APT_TEST[@]}"
    .venv/bin/python -m pip install -q -e ".[dev,alsa,systemd,train]"
    .venv/bin/python tools/fetch_models.py
    exec .venv/bin/python -m pytest -q "$@"
    ;;
  train)
    apt_install "${APT_TRAIN[@]}"
    .venv/bin/python -m pip install -q -e ".[dev,train]"
    if [ $# -eq 0 ]; then
      echo "setup: ready. The shipped model's commands (models/faults/MODEL_CARD.md):" >&2
      echo "  nice .venv/bin/python tools/build_fault_dataset.py --out /tmp/faults.npz --seed 0 --train 24000 --val 1200 --test 1500 --samples --jobs 2" >&2
      echo "  COMMON='--data /tmp/faults.npz --mask off --learning-rate 7e-4 --max-train 16000 --extra mains_lines,clip_shape,tonal_peaks --threads 1'" >&2
      echo "  nice .venv/bin/python tools/train_fault_model.py \$COMMON --out /tmp/run_n2                    # teacher 1" >&2
      echo "  nice .venv/bin/python tools/train_fault_model.py \$COMMON --out /tmp/run_c2d --front conv2d    # teacher 2" >&2
      echo "  nice .venv/bin/python tools/train_fault_model.py \$COMMON --out /tmp/run_u64 --units 64       # teacher 3" >&2
      echo "  nice .venv/bin/python tools/train_fault_model.py \$COMMON --out models/faults --teacher /tmp/run_n2 --teacher /tmp/run_c2d --teacher /tmp/run_u64 --teacher-weight 0.8" >&2
      exit 0
    fi
    exec nice .venv/bin/python tools/train_fault_model.py "$@"
    ;;
  *) echo "usage: bash tools/setup.sh demo|test|train [ARGS]" >&2; exit 2 ;;
esac
