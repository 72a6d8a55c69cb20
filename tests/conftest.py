"""Shared test fixtures. Real media come from ../shared/media beside the checkout (never copied into the repo)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_MEDIA = REPO.parent / "shared" / "media"
MODELS = REPO / "models"


@pytest.fixture(scope="session")
def shared_media() -> Path:
    if not SHARED_MEDIA.is_dir():
        pytest.fail(f"shared media not found at {SHARED_MEDIA}: the tests need ../shared beside the checkout")
    return SHARED_MEDIA


@pytest.fixture(scope="session")
def models_dir() -> Path:
    return MODELS
