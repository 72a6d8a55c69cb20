"""The audio stage: which background fault a window of audio holds, when it starts and ends, and what to do about it.

- ``features.py``, ``model.py`` — log-mel features and the quantised fault classifier (one score per fault type);
- ``measure.py`` — deterministic measurements: levels, clipping and true peak, mains-hum and feedback frequencies;
- ``analysis.py`` — :class:`~liverec_edge.audio.analysis.FaultAnalyser` (gate → pre-judgement → event location →
  precise classification → measurement) and its streaming use in the daemon;
- ``strategy.py`` + ``liverec_edge/data/strategies.yaml`` — the strategy table: fault event → console actions;
- ``offline.py`` — whole-file analysis for ``liverec-edge analyze``;
- ``stage.py`` — the daemon's fault stage wiring tags, audio and the mixer.
"""
