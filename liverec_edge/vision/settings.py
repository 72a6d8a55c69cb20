"""The ``vision`` section of the config file."""

from __future__ import annotations

from liverec_edge.settings_base import Section


class VisionSettings(Section):
    """Settings of the vision stage."""
