"""The ``capture`` section of the config file."""

from __future__ import annotations

from liverec_edge.settings_base import Section


class CaptureSettings(Section):
    """Settings of the capture stage."""
