"""The ``behaviour`` section of the config file."""

from __future__ import annotations

from liverec_edge.settings_base import Section


class BehaviourSettings(Section):
    """Settings of the behaviour stage."""
