"""The ``mixer`` section of the config file."""

from __future__ import annotations

from liverec_edge.settings_base import Section


class MixerSettings(Section):
    """Settings of the mixer stage."""
