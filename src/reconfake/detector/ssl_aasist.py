"""The paper's detector: frozen wav2vec 2.0 (XLS-R 300M) -> multi-layer aggregation -> AASIST.

``forward(wave)`` takes ``(batch, samples)`` 16 kHz audio and returns ``(embedding, logits)``
(column 1 = bona fide, the score). It is the composition of two halves that training may
call apart, so front-end outputs can be cached:

* ``layer_features(wave)`` -> ``(batch, layers, frames, dim)``: the front-end, run without
  autograd (unless ``frontend_trainable``), in eval mode (no SpecAugment masking, no
  LayerDrop) whatever the module's own mode. For ``softmax`` and ``sls`` the layers are the
  raw residual stream after transformer blocks 1..L, exactly what SLS reads (fairseq
  ``layer_results``; the encoder's final layer norm is not applied to layer L); ``last``
  reads the final layer-normed output (``last_hidden_state``, SSL-AASIST's feature).
* ``forward_features(layers)`` -> ``(embedding, logits)``: aggregation (``last``,
  ``softmax`` or ``sls``; see :mod:`reconfake.detector.aggregation`) and the SSL-AASIST
  back-end (:class:`~reconfake.detector.aasist.SSLAASISTBackend`: Linear dim -> 128, pool
  ratios 0.5, temperatures 2, 2, 100, 100).

The frozen front-end is held outside the module tree: ``parameters()`` and ``state_dict()``
hold only what is trained (XLS-R would add 1.2 GB to every checkpoint), ``.to()`` still moves
it. Checkpoints record the front-end's source and a SHA-256 of its weights; loading one
rebuilds the front-end from its source and refuses a different one.

``frontend_trainable=True`` fine-tunes the front-end with the rest (SSL-AASIST's recipe;
the frozen/fine-tuned ablation): it is then a registered submodule ``ssl_model`` whose
weights are in ``parameters()`` and every checkpoint, gradients flow through
``layer_features``, and the recorded SHA-256 is that of the pretrained weights it started
from. It still runs in eval mode (no dropout, SpecAugment masking or LayerDrop), so a clip's
features depend only on the weights. Training gives it its own rate (``frontend_lr``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from reconfake.detector.aasist import SSLAASISTBackend
from reconfake.detector.aggregation import LayerAggregation
from reconfake.detector.fairseq_convert import file_sha256, is_release_file
from reconfake.detector.registry import ARCHITECTURES
from reconfake.detector.ssl_frontend import (
    TINY_RANDOM,
    XLSR_300M,
    build_frontend,
    frontend_fingerprint,
)
from reconfake.detector.whisper_frontend import WhisperFrontend
from reconfake.options import reject_unknown

# v2: ``softmax``/``sls`` read the raw residual output of layer L (v1: the final layer-normed
# output), as SLS does; ``last`` still reads the normed output.
CACHE_LAYOUT = "ssl-layers-v2"
# Recorded in checkpoints: what the layers a model was trained on are.
LAYER_OUTPUTS = "residual"


class SSLAASIST(nn.Module):
    """Frozen wav2vec 2.0 front-end + layer aggregation + SSL-AASIST back-end.

    Args:
        frontend: a Hugging Face id, a ``save_pretrained`` folder, or ``tiny-random`` for
            wav2vec 2.0; a Whisper source (``whisper-tiny.en``, ``openai/whisper-*``, a folder
            with a CTranslate2 ``model.bin`` or a Whisper config; see
            :mod:`reconfake.detector.whisper_frontend`) for the frozen Whisper encoder.
        aggregation: ``last`` (SSL-AASIST baseline), ``softmax`` or ``sls``.
        layer_norm: normalise each layer before aggregating.
        normalize_input: zero-mean unit-variance per clip before the front-end, as the
            XLS-R feature extractor does (ignored for Whisper, which normalises its log-mel).
        revision: hub revision of ``frontend``.
        frontend_seed: seed of the ``tiny-random`` weights.
        tiny: size of the ``tiny-random`` front-end (see ``ssl_frontend.TINY_DEFAULTS``).
        backend: width of the SSL-AASIST back-end, ``{"proj_dim": 128, "channels": [32, 64]}``
            by default (SSL-AASIST's); smaller values make a narrower back-end.
        frontend_config: when ``frontend`` is a released SSL-AASIST checkpoint file (its
            fine-tuned fairseq front-end is converted), what the weights' shapes do not tell,
            e.g. ``{"num_attention_heads": 16}`` (see :mod:`reconfake.detector.fairseq_convert`).
        frontend_trainable: fine-tune the front-end too (see the module docstring).
    """

    def __init__(self, frontend: str = XLSR_300M, aggregation: str = "sls",
                 layer_norm: bool = False, normalize_input: bool = True,
                 revision: str | None = None, frontend_seed: int = 0,
                 tiny: dict[str, Any] | None = None, backend: dict[str, Any] | None = None,
                 frontend_config: dict[str, Any] | None = None,
                 frontend_trainable: bool = False):
        super().__init__()
        backend = dict(backend or {})
        reject_unknown(backend, ("proj_dim", "channels"), "architecture ssl_aasist backend")
        model = build_frontend(frontend, revision, frontend_seed, tiny, frontend_config)
        model.requires_grad_(bool(frontend_trainable))
        model.eval()
        self.frontend_trainable = bool(frontend_trainable)
        # Frozen: bypasses nn.Module registration on purpose (see the module docstring).
        self.__dict__["_frontend"] = model
        self.__dict__["_fingerprint"] = None
        if self.frontend_trainable:
            self.ssl_model = model
            # The provenance is the pretrained weights, taken before training changes them.
            self.__dict__["_fingerprint"] = frontend_fingerprint(model)
        self.frontend_source = frontend
        self.revision = revision
        self.frontend_config = frontend_config
        self.whisper = isinstance(model, WhisperFrontend)
        self.normalize_input = normalize_input and not self.whisper
        if self.whisper:
            num_layers, dim = model.num_layers, model.hidden_size
        else:
            num_layers, dim = model.config.num_hidden_layers, model.config.hidden_size
        self.aggregation = LayerAggregation(aggregation, num_layers, dim, layer_norm)
        self.backend = SSLAASISTBackend(feature_dim=dim, **backend)

    @property
    def frontend(self) -> nn.Module:
        """The frozen wav2vec 2.0 model or Whisper front-end (not a registered submodule)."""
        return self.__dict__["_frontend"]

    def _apply(self, fn: Callable[..., Any], recurse: bool = True) -> SSLAASIST:
        if not self.frontend_trainable:  # a registered front-end is moved by super()
            self.frontend._apply(fn, recurse)
        return super()._apply(fn, recurse)

    # ----------------------------------------------------------------- the two halves

    def layer_features(self, wave: Tensor) -> Tensor:
        """Front-end layer outputs the aggregation reads, ``(B, L_used, frames, dim)``;
        differentiable only when the front-end is trainable."""
        with torch.set_grad_enabled(self.frontend_trainable and torch.is_grad_enabled()):
            return self._layer_features(wave)

    def _layer_features(self, wave: Tensor) -> Tensor:
        fe = self.frontend
        fe.eval()
        x = wave
        if self.normalize_input:
            mean = x.mean(dim=-1, keepdim=True)
            x = (x - mean) / torch.sqrt(x.var(dim=-1, keepdim=True, unbiased=False) + 1e-7)
        used = self.aggregation.layers_used()
        final_norm = self.aggregation.mode == "last"
        if self.whisper:
            return fe.layer_features(x, used, final_norm=final_norm)
        num_layers = fe.config.num_hidden_layers
        if final_norm:
            return fe(x).last_hidden_state.unsqueeze(1)
        # SLS reads fairseq's layer_results: the raw residual stream after each block, layer L
        # included (before the encoder's final layer norm). A forward hook on every block gets
        # exactly that, independently of how a transformers version fills hidden_states.
        outputs: dict[int, Tensor] = {}

        def keep(k: int) -> Callable[..., None]:
            def hook(_module: nn.Module, _args: Any, out: Any) -> None:
                outputs[k] = out[0] if isinstance(out, tuple) else out
            return hook

        handles = [layer.register_forward_hook(keep(k))
                   for k, layer in enumerate(fe.encoder.layers) if k in used]
        try:
            fe(x)
        finally:
            for handle in handles:
                handle.remove()
        if len(outputs) != len(used) or num_layers != len(fe.encoder.layers):
            raise RuntimeError(f"front-end {self.frontend_source!r}: expected outputs of layers "
                               f"{[i + 1 for i in used]}, got {sorted(k + 1 for k in outputs)}")
        return torch.stack([outputs[i] for i in used], dim=1)

    def forward_features(self, layers: Tensor) -> tuple[Tensor, Tensor]:
        """``(embedding, logits)`` from front-end layer outputs."""
        return self.backend(self.aggregation(layers), return_embedding=True)

    def forward(self, wave: Tensor) -> tuple[Tensor, Tensor]:
        return self.forward_features(self.layer_features(wave))

    # ----------------------------------------------------------------- bookkeeping

    def layer_weights(self, layers: Tensor | None = None) -> Tensor | None:
        """Weight of each front-end layer: the softmax weights, or the SLS gates averaged
        over the clips of ``layers``; ``None`` for ``last``."""
        agg = self.aggregation
        if agg.mode == "last":
            return None
        if agg.mode == "softmax":
            return torch.softmax(agg.layer_logits.detach().float(), dim=0).cpu()
        if layers is None:
            raise ValueError("SLS gates depend on the clip: pass layer features to average over")
        with torch.no_grad():
            return agg.weights(layers).float().mean(dim=0).cpu()

    def fingerprint(self) -> str:
        """SHA-256 of the front-end as built (computed once; for a trainable front-end,
        of the pretrained weights it started from)."""
        if self.__dict__["_fingerprint"] is None:
            self.__dict__["_fingerprint"] = frontend_fingerprint(self.frontend)
        return self.__dict__["_fingerprint"]

    def cache_key(self) -> str:
        """What determines ``layer_features`` of a given waveform. For a trainable
        front-end that is its current weights (e.g. a fine-tuned model being scored)."""
        final = "normed" if self.aggregation.mode == "last" else "raw"
        weights = frontend_fingerprint(self.frontend) if self.frontend_trainable \
            else self.fingerprint()
        return (f"{CACHE_LAYOUT}-{weights[:16]}-norm{int(self.normalize_input)}-"
                f"layers{'_'.join(str(i + 1) for i in self.aggregation.layers_used())}-{final}")

    def checkpoint_metadata(self) -> dict[str, Any]:
        """Front-end provenance recorded in checkpoints."""
        trained = self.frontend_source != TINY_RANDOM
        release = {}
        if trained and is_release_file(self.frontend_source):
            release = {"file_sha256": file_sha256(self.frontend_source)}
            note = ("fine-tuned wav2vec 2.0 front-end of a released SSL-AASIST checkpoint "
                    "(fairseq), converted to transformers")
        elif self.whisper:
            note = "pretrained Whisper encoder (OpenAI weights), log-mel of the unpadded clip"
        elif trained:
            note = "pretrained front-end"
        else:
            note = "untrained front-end: random weights of the XLS-R architecture, built offline"
        return {"frontend": {
            "source": self.frontend_source, "revision": self.revision, "trained": trained,
            "sha256": self.fingerprint(), "note": note, "layer_outputs": LAYER_OUTPUTS,
            "fine_tuned": self.frontend_trainable, **release,
        }}

    def check_checkpoint_metadata(self, meta: dict[str, Any], name: str = "checkpoint") -> None:
        """Refuse a checkpoint trained on other front-end weights than the ones loaded now."""
        record = meta.get("frontend") or {}
        if record and self.aggregation.mode != "last" and \
                record.get("layer_outputs") != LAYER_OUTPUTS:
            raise ValueError(
                f"{name}: a {self.aggregation.mode!r} model trained before layer L became the "
                "raw residual output (it saw the final layer-normed output): retrain it, or "
                "score it with a reconfake version before the recipe branch")
        recorded = record.get("sha256")
        if recorded and recorded != self.fingerprint():
            raise ValueError(
                f"{name}: trained on front-end {meta['frontend'].get('source')!r} with weights "
                f"sha256 {recorded[:12]}..., but {self.frontend_source!r} loads as "
                f"{self.fingerprint()[:12]}...; load the same front-end (and revision) to use "
                "this checkpoint")


@ARCHITECTURES.register("ssl_aasist")
def build_ssl_aasist(**options: Any) -> SSLAASIST:
    """The paper's detector: frozen wav2vec 2.0, layer aggregation, SSL-AASIST back-end."""
    reject_unknown(options, inspect.signature(SSLAASIST).parameters, "architecture ssl_aasist")
    return SSLAASIST(**options)
