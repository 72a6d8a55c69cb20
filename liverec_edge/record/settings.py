"""The ``record`` section of the config file."""

from __future__ import annotations

from liverec_edge.settings_base import Section


class RecordSettings(Section):
    """Settings of the record stage."""
