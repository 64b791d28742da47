"""Registers every architecture by name: one builder per model module."""

from __future__ import annotations

from typing import Any

from torch import nn

from reconfake.detector.registry import register_architecture


@register_architecture("mel_cnn")
def _mel_cnn(**options: Any) -> nn.Module:
    from reconfake.detector.mel_cnn import MelCNN

    return MelCNN(**options)


def _returns_embedding(cls: type[nn.Module]) -> type[nn.Module]:
    """Subclass whose forward returns ``(embedding, logits)``, keeping state-dict keys."""

    class WithEmbedding(cls):  # type: ignore[misc, valid-type]
        def forward(self, x, **kwargs):  # noqa: ANN001
            return super().forward(x, return_embedding=True, **kwargs)

    WithEmbedding.__name__ = cls.__name__
    return WithEmbedding


@register_architecture("aasist")
def _aasist(**options: Any) -> nn.Module:
    """Official raw-waveform AASIST (loads the released AASIST.pth)."""
    from reconfake.detector.aasist import AASIST_CONFIG, AASISTConfig, RawAASIST

    config = AASISTConfig.from_dict(options) if options else AASIST_CONFIG
    return _returns_embedding(RawAASIST)(config)


@register_architecture("aasist-l")
def _aasist_l(**options: Any) -> nn.Module:
    """Official raw-waveform AASIST-L (loads the released AASIST-L.pth)."""
    from reconfake.detector.aasist import AASIST_L_CONFIG, AASISTConfig, RawAASIST

    config = AASISTConfig.from_dict(options) if options else AASIST_L_CONFIG
    return _returns_embedding(RawAASIST)(config)


@register_architecture("ssl_aasist")
def _ssl_aasist(**options: Any) -> nn.Module:
    """The paper's detector: frozen wav2vec 2.0, layer aggregation, SSL-AASIST back-end."""
    import inspect

    from reconfake.detector.ssl_aasist import SSLAASIST

    allowed = sorted(inspect.signature(SSLAASIST).parameters)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"unknown ssl_aasist option(s) {unknown}; allowed: {allowed}")
    return SSLAASIST(**options)
