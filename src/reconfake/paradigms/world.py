"""Vocoder paradigm, offline stand-in: WORLD analysis and resynthesis through pyworld.

F0 (DIO refined by StoneMask, or Harvest), spectral envelope (CheapTrick) and aperiodicity
(D4C) are extracted and synthesised back: the classic statistical-parametric vocoder path.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from reconfake.paradigms.registry import Backend, BackendError, register


@register
class WorldBackend(Backend):
    """WORLD analysis/synthesis; ``f0_method`` is ``dio`` (fast) or ``harvest`` (robust)."""

    name = "world"
    paradigm = "vocoder"
    stand_in_for = "neural vocoders (HiFi-GAN)"
    defaults: ClassVar[dict[str, Any]] = {"f0_method": "dio", "frame_period_ms": 5.0,
                                          "f0_floor": 60.0, "f0_ceil": 500.0, "batch_size": 16}

    def __init__(self, device: str = "cpu", **options: Any):
        super().__init__(device, **options)
        try:
            with warnings.catch_warnings():  # pyworld imports the deprecated pkg_resources
                warnings.simplefilter("ignore")
                import pyworld  # noqa: F401
        except ImportError as exc:
            raise BackendError("backend world needs pyworld: pip install 'pyworld' "
                               "'setuptools<81' (pyworld imports pkg_resources)") from exc
        if self.options["f0_method"] not in ("dio", "harvest"):
            raise BackendError(f"world f0_method {self.options['f0_method']!r}: "
                               "use 'dio' or 'harvest'")

    def metadata(self) -> dict[str, Any]:
        from importlib.metadata import version

        meta = super().metadata()
        meta.update(model_id="WORLD (pyworld)", revision=version("pyworld"))
        return meta

    def _resynthesise(self, x: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():  # pyworld imports the deprecated pkg_resources
            warnings.simplefilter("ignore")
            import pyworld

        o = self.options
        sr = self.sample_rate
        xd = np.ascontiguousarray(x, dtype=np.float64)
        if o["f0_method"] == "harvest":
            f0, t = pyworld.harvest(xd, sr, o["f0_floor"], o["f0_ceil"], o["frame_period_ms"])
        else:
            f0, t = pyworld.dio(xd, sr, o["f0_floor"], o["f0_ceil"],
                                frame_period=o["frame_period_ms"])
            f0 = pyworld.stonemask(xd, f0, t, sr)
        sp = pyworld.cheaptrick(xd, f0, t, sr)
        ap = pyworld.d4c(xd, f0, t, sr)
        return pyworld.synthesize(f0, sp, ap, sr, o["frame_period_ms"]).astype(np.float32)

    def reconstruct_batch(self, batch: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [self._resynthesise(np.asarray(x)) for x in batch]
