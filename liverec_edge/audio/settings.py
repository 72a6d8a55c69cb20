"""The ``audio`` section of the config file."""

from __future__ import annotations

from liverec_edge.settings_base import Section


class AudioSettings(Section):
    """Settings of the audio stage."""
