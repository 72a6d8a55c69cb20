"""The vision stage: per-body-part detectors (face, hands, pose) on the MediaPipe ``.tflite`` models.

Public interface: :class:`~liverec_edge.vision.pipeline.PartAnalyser` (``analyse(frame) -> list[PartResult]``,
``stats()``), :class:`~liverec_edge.vision.settings.VisionSettings`, and the detector registry
(:data:`~liverec_edge.vision.registry.DETECTOR_KINDS`, :func:`~liverec_edge.vision.registry.create_detector`). The
models' geometry conventions and the ``attrs`` each detector fills are documented in ``face.py``, ``hands.py`` and
``pose.py``; the models themselves in ``models/vision/README.md``. Importing this package loads no model and no
TFLite runtime.
"""
