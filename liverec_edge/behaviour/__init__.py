"""The behaviour stage: part results → behaviour codes → tags (time spans of abnormal behaviour) → audio windows.

Data flow (each module reads as one step)::

    settings.py   BehaviourSettings: zones, per-behaviour thresholds and timing, pre/post roll, pre-emptive map
    zones.py      Polygon / Zones: normalised polygons (microphone, keyboard, seat), point-in-polygon, overlap, distance
    codes.py      BehaviourEncoder.encode(t, frame_index, results, aspect) -> BehaviourSet (per-part state flags)
    recognise.py  Recogniser.push(BehaviourSet) -> [BehaviourTag] opened or closed; BehaviourAnalyser: both in one
    match.py      match_tag(tag, video_ring, audio_ring, pre, post) -> MatchedTag(window: AudioWindow, frames, complete)
    preempt.py    Preemptor: tags + fault events + tick(now) -> apply / confirm / release decisions
    offline.py    analyze_media(path, vision_settings, behaviour_settings) -> the ``analyze --json`` tags and parts
    stage.py      BehaviourStage: the daemon stage (parts off the bus, tags onto it)
    zones_cli.py  ``liverec-edge zones``: the zones drawn over a frame, to check them
    synthetic.py  real-photo sequences and scripted part results with exact ground truth (tests, benchmark)

Heavy imports (the part detectors, PIL) stay inside the functions that need them.
"""
