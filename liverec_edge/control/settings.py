"""The ``control`` section of the config file."""

from __future__ import annotations

from liverec_edge.settings_base import Section


class ControlSettings(Section):
    """Settings of the control stage."""
