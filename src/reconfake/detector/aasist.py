"""AASIST anti-spoofing back-ends: the raw-waveform model and the SSL-feature variant.

Written from the descriptions in Jung et al. (2022), "AASIST: Audio Anti-Spoofing using
Integrated Spectro-Temporal Graph Attention Networks", and Tak et al. (2022), "Automatic speaker
verification spoofing and deepfake detection using wav2vec 2.0 and data augmentation"
(SSL-AASIST). Module and parameter names follow the released checkpoints, so the official
state dicts of clovaai/aasist (AASIST, AASIST-L) load strictly into :class:`RawAASIST` and the
back-end part of an SSL-AASIST checkpoint (every key except ``ssl_model.*``) loads into
:class:`SSLAASISTBackend`.

Pipeline shared by both models: a 2-D map (channels x spectral x temporal) goes through a
residual CNN encoder; its spectral and temporal summaries become two graphs that are refined by
graph attention (GAT-S, GAT-T) and graph pooling; two parallel branches of heterogeneous
stacking graph attention (HS-GAL) with a learnable master node combine them; the readout
(max|.| and mean over nodes of both node types, plus the master node) gives a
``5 * gat_dims[1]``-dimensional embedding, and a linear layer gives two logits, where column 1
is bona fide (higher = bona fide) and column 0 is spoof.

Faithfulness notes (behaviour of the released code, reproduced here on purpose):

* In every residual block but the first, ``bn1`` + SELU is computed by the official code and
  then discarded (``conv1`` reads the block input). ``bn1`` is kept so checkpoints load, but
  it is skipped here; its running statistics therefore stay at their initial values when
  training with this module, which does not change any output.
* The first HS-GAL layer of each branch receives the un-expanded ``(1, 1, dim)`` master
  parameter; broadcasting makes that identical to expanding it over the batch.
* Dropout (graph inputs 0.2, pooling scores 0.3, branch outputs 0.2, readout 0.5) and all batch
  norms make train and eval outputs differ: call ``model.eval()`` for scoring.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reconfake.detector.registry import ARCHITECTURES
from reconfake.detector.state_dicts import check_state_dict

__all__ = [
    "AASISTConfig",
    "AASIST_CONFIG",
    "AASIST_L_CONFIG",
    "RawAASIST",
    "SSLAASISTBackend",
    "load_state_dict_strict",
]

ModelT = TypeVar("ModelT", bound=nn.Module)


@dataclass(frozen=True)
class AASISTConfig:
    """Hyper-parameters of the raw-waveform AASIST (names as in the official ``*.conf`` files).

    ``first_conv`` is the sinc-filter length (made odd), ``filts[0]`` the number of sinc
    filters, ``filts[1:]`` the (in, out) channels of the residual blocks (the last pair is used
    for three blocks), ``gat_dims`` the graph widths (GAT, HS-GAL), ``pool_ratios`` the node
    keep ratios (S, T, HS-GAL; the fourth is unused, as in the official code), ``temperatures``
    the attention temperatures (GAT-S, GAT-T, HS-GAL; the fourth is unused).
    """

    first_conv: int = 128
    filts: tuple[Any, ...] = (70, (1, 32), (32, 32), (32, 64), (64, 64))
    gat_dims: tuple[int, int] = (64, 32)
    pool_ratios: tuple[float, ...] = (0.5, 0.7, 0.5, 0.5)
    temperatures: tuple[float, ...] = (2.0, 2.0, 100.0, 100.0)
    nb_samp: int = 64600

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AASISTConfig:
        """Build from an official ``model_config`` dict (extra keys such as ``architecture``
        are ignored; lists become tuples)."""
        filts = (int(d["filts"][0]), *(tuple(int(c) for c in f) for f in d["filts"][1:]))
        return cls(
            first_conv=int(d["first_conv"]),
            filts=filts,
            gat_dims=tuple(int(g) for g in d["gat_dims"]),  # type: ignore[arg-type]
            pool_ratios=tuple(float(p) for p in d["pool_ratios"]),
            temperatures=tuple(float(t) for t in d["temperatures"]),
            nb_samp=int(d.get("nb_samp", 64600)),
        )


AASIST_CONFIG = AASISTConfig()
AASIST_L_CONFIG = AASISTConfig(
    filts=(70, (1, 32), (32, 32), (32, 24), (24, 24)),
    gat_dims=(24, 32),
    pool_ratios=(0.4, 0.5, 0.7, 0.5),
)


# --------------------------------------------------------------------------- building blocks


def mel_sinc_filters(n_filters: int, kernel_size: int, sample_rate: int = 16000) -> Tensor:
    """Fixed band-pass filters (Hamming-windowed ideal sinc) with mel-spaced band edges.

    Band edges split the mel range of a 512-point FFT (0 .. Nyquist) evenly; even kernel sizes
    are bumped by one so every filter is symmetric. Returns float32 ``(n_filters, kernel)``.
    As in the released code, the sinc is evaluated in float32 by NumPy and the rest in float64;
    an all-float64 filterbank differs by ~1.5e-7, which moves AASIST logits by ~5e-5.
    """
    if kernel_size % 2 == 0:
        kernel_size += 1
    mel_max = 2595.0 * np.log10(1.0 + (sample_rate // 2) / 700.0)
    edges_hz = 700.0 * (10.0 ** (np.linspace(0.0, mel_max, n_filters + 1) / 2595.0) - 1.0)
    t = np.arange(kernel_size, dtype=np.float32) - np.float32((kernel_size - 1) / 2)

    def lowpass(cutoff: np.ndarray) -> np.ndarray:  # ideal low-pass, cut-off ``cutoff`` Hz
        arg = (2 * cutoff).astype(np.float32)[:, None] * t / np.float32(sample_rate)
        return (2 * cutoff / sample_rate)[:, None] * np.sinc(arg).astype(np.float64)

    ideal = (lowpass(edges_hz[1:]) - lowpass(edges_hz[:-1])).astype(np.float32)
    return torch.from_numpy(np.hamming(kernel_size).astype(np.float32) * ideal)


class SincConv(nn.Module):
    """Non-learnable mel-spaced sinc filterbank applied to a mono waveform ``(B, 1, L)``.

    The filters are a non-persistent buffer (the official checkpoints do not store them).
    ``freq_mask=True`` (training-time augmentation) zeroes a random run of 0-19 filters.
    """

    def __init__(self, out_channels: int, kernel_size: int, sample_rate: int = 16000) -> None:
        super().__init__()
        filters = mel_sinc_filters(out_channels, kernel_size, sample_rate)
        self.register_buffer("filters", filters.unsqueeze(1), persistent=False)

    def forward(self, x: Tensor, freq_mask: bool = False) -> Tensor:
        filters = self.filters
        if freq_mask:
            width = int(torch.randint(0, 20, ()).item())
            start = int(torch.randint(0, filters.shape[0] - width + 1, ()).item())
            filters = filters.clone()
            filters[start : start + width] = 0
        return F.conv1d(x, filters)


class ResidualBlock(nn.Module):
    """RawNet2-style 2-D residual block: conv(2x3) -> BN -> SELU -> conv(2x3) + shortcut.

    ``pool`` adds the (1, 3) max-pool over time used by raw AASIST (SSL-AASIST has none).
    """

    def __init__(self, in_ch: int, out_ch: int, first: bool = False, pool: bool = True) -> None:
        super().__init__()
        if not first:
            self.bn1 = nn.BatchNorm2d(in_ch)  # present in checkpoints, unused by the output
        self.conv1 = nn.Conv2d(in_ch, out_ch, kernel_size=(2, 3), padding=(1, 1))
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, kernel_size=(2, 3), padding=(0, 1))
        if in_ch != out_ch:
            self.conv_downsample = nn.Conv2d(in_ch, out_ch, kernel_size=(1, 3), padding=(0, 1))
        self.mp = nn.MaxPool2d((1, 3)) if pool else nn.Identity()
        self.pool = pool

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv2(F.selu(self.bn2(self.conv1(x))))
        shortcut = self.conv_downsample(x) if hasattr(self, "conv_downsample") else x
        if self.pool and not torch.is_grad_enabled():
            return max_pool_time3(out + shortcut)
        return self.mp(out + shortcut)

    def forward_tiled(self, x: Tensor, tile: int) -> Tensor:
        """:meth:`forward` without autograd, ``tile`` output columns at a time (blocks with time
        pooling only).

        The first blocks of raw AASIST run on maps 21 490 columns wide, (B, 32, 24, 21 490)
        float32 being 66 MB a clip: whole, every op streams them through memory and each new one
        is page-faulted in. A tile's intermediates (a few MB) stay in cache instead. Each tile
        reads its input with the halo that the two width-3 convolutions need, and the columns
        outside the map are zeros exactly where the whole-map convolutions pad with zeros, so
        the values are those of :meth:`forward` up to the rounding of the convolution kernels.
        """
        width = x.shape[-1]
        n_out = width // 3  # MaxPool2d((1, 3)) drops the last width % 3 columns
        downsample = getattr(self, "conv_downsample", None)
        tiles = []
        for p0 in range(0, n_out, tile):
            p1 = min(p0 + tile, n_out)
            lo, hi = 3 * p0 - 2, 3 * p1 + 2  # input columns conv1 -> conv2 needs
            xs = x[..., max(lo, 0):min(hi, width)]
            if lo < 0 or hi > width:
                xs = F.pad(xs, (max(-lo, 0), max(hi - width, 0)))
            # conv1 keeps its height padding; width padding is the halo above
            h = F.selu(self.bn2(F.conv2d(xs, self.conv1.weight, self.conv1.bias, padding=(1, 0))),
                       inplace=True)  # in place: a new tensor costs page faults, not only time
            first = lo + 1  # map column of h[..., 0]
            if first < 0:  # conv2 pads its input with zeros, not with conv1 of padded input
                h[..., :-first] = 0
            if first + h.shape[-1] > width:
                h[..., width - first:] = 0
            out = F.conv2d(h, self.conv2.weight, self.conv2.bias)
            shortcut = xs[..., 2:-2] if downsample is None else \
                F.conv2d(xs[..., 1:-1], downsample.weight, downsample.bias)
            tiles.append(max_pool_time3(out + shortcut))
        return torch.cat(tiles, dim=-1)


def max_pool_time3(x: Tensor) -> Tensor:
    """``MaxPool2d((1, 3))`` (floor mode) for inference: the same values from ``max_pool1d``,
    whose CPU kernel without autograd computes no indices; ``max_pool2d`` always computes them
    on the CPU, which made it one of the costliest ops of raw AASIST inference (measured 37 ms
    against 2.4 ms on a (32, 23, 1536) map). Not for training: the gradient path differs."""
    shape = x.shape
    return F.max_pool1d(x.reshape(-1, 1, shape[-1]), 3).reshape(*shape[:-1], shape[-1] // 3)


def max_pool_3x3(x: Tensor) -> Tensor:
    """``F.max_pool2d(x, (3, 3))`` (floor mode) for inference: :func:`max_pool_time3` along
    time, then the max of row triples (a max is exact in any order)."""
    x = max_pool_time3(x)
    h = x.shape[-2] // 3
    return x[..., :3 * h, :].unflatten(-2, (h, 3)).amax(dim=-2)


def _xavier_param(*size: int) -> nn.Parameter:
    param = nn.Parameter(torch.empty(*size))
    nn.init.xavier_normal_(param)
    return param


def _node_bn(bn: nn.BatchNorm1d, x: Tensor) -> Tensor:
    """Batch norm over all nodes of all graphs: ``(B, N, D)`` treated as ``B * N`` samples."""
    return bn(x.reshape(-1, x.shape[-1])).reshape(x.shape)


class GraphAttentionLayer(nn.Module):
    """Graph attention over a fully connected graph ``(B, N, in_dim) -> (B, N, out_dim)``.

    Edge score of (i, j) = w^T tanh(W (x_i * x_j)) / temperature, softmax over j; the output
    is SELU(BN(P_att(sum_j a_ij x_j) + P_self(x_i))).
    """

    def __init__(self, in_dim: int, out_dim: int, temperature: float = 1.0) -> None:
        super().__init__()
        self.att_proj = nn.Linear(in_dim, out_dim)
        self.att_weight = _xavier_param(out_dim, 1)
        self.proj_with_att = nn.Linear(in_dim, out_dim)
        self.proj_without_att = nn.Linear(in_dim, out_dim)
        self.bn = nn.BatchNorm1d(out_dim)
        self.input_drop = nn.Dropout(0.2)
        self.temp = temperature

    def forward(self, x: Tensor) -> Tensor:
        x = self.input_drop(x)
        pair = torch.tanh(self.att_proj(x.unsqueeze(2) * x.unsqueeze(1)))  # (B, N, N, out)
        att = torch.softmax((pair @ self.att_weight).squeeze(-1) / self.temp, dim=-1)
        out = self.proj_with_att(att @ x) + self.proj_without_att(x)
        return F.selu(_node_bn(self.bn, out))


class HtrgGraphAttentionLayer(nn.Module):
    """Heterogeneous stacking graph attention (HS-GAL) over two node types plus a master node.

    Both node sets are projected per type and concatenated; edge scores use one attention
    vector per edge kind (type1-type1, type2-type2, cross-type). The master node attends to all
    nodes (one-way edges) and is updated from them. Returns (type1, type2, master) nodes.
    """

    def __init__(self, in_dim: int, out_dim: int, temperature: float = 1.0) -> None:
        super().__init__()
        self.proj_type1 = nn.Linear(in_dim, in_dim)
        self.proj_type2 = nn.Linear(in_dim, in_dim)
        self.att_proj = nn.Linear(in_dim, out_dim)
        self.att_projM = nn.Linear(in_dim, out_dim)
        self.att_weight11 = _xavier_param(out_dim, 1)
        self.att_weight22 = _xavier_param(out_dim, 1)
        self.att_weight12 = _xavier_param(out_dim, 1)
        self.att_weightM = _xavier_param(out_dim, 1)
        self.proj_with_att = nn.Linear(in_dim, out_dim)
        self.proj_without_att = nn.Linear(in_dim, out_dim)
        self.proj_with_attM = nn.Linear(in_dim, out_dim)
        self.proj_without_attM = nn.Linear(in_dim, out_dim)
        self.bn = nn.BatchNorm1d(out_dim)
        self.input_drop = nn.Dropout(0.2)
        self.temp = temperature

    def forward(self, x1: Tensor, x2: Tensor, master: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        n1, n = x1.shape[1], x1.shape[1] + x2.shape[1]
        x = self.input_drop(torch.cat([self.proj_type1(x1), self.proj_type2(x2)], dim=1))

        # node-to-node attention; edge kind 0 = 1-1, 1 = cross (either direction), 2 = 2-2
        pair = torch.tanh(self.att_proj(x.unsqueeze(2) * x.unsqueeze(1)))  # (B, N, N, out)
        weights = torch.cat([self.att_weight11, self.att_weight12, self.att_weight22], dim=1)
        scores = pair @ weights  # (B, N, N, 3)
        is_type2 = (torch.arange(n, device=x.device) >= n1).long()
        kind = (is_type2[:, None] + is_type2[None, :]).expand(x.shape[0], n, n).unsqueeze(-1)
        att = torch.softmax(scores.gather(-1, kind).squeeze(-1) / self.temp, dim=-1)
        nodes = self.proj_with_att(att @ x) + self.proj_without_att(x)
        nodes = F.selu(_node_bn(self.bn, nodes))

        # master node: attention over all nodes, conditioned on the current master
        m_scores = torch.tanh(self.att_projM(x * master)) @ self.att_weightM  # (B, N, 1)
        m_att = torch.softmax(m_scores / self.temp, dim=1)
        master = self.proj_with_attM(m_att.transpose(1, 2) @ x) + self.proj_without_attM(master)
        return nodes[:, :n1], nodes[:, n1:], master


class GraphPool(nn.Module):
    """Graph pooling: score nodes with sigmoid(Linear), keep the top ``ratio`` of them, each
    scaled by its score."""

    def __init__(self, ratio: float, in_dim: int, p: float = 0.3) -> None:
        super().__init__()
        self.ratio = ratio
        self.proj = nn.Linear(in_dim, 1)
        self.drop = nn.Dropout(p) if p > 0 else nn.Identity()

    def forward(self, h: Tensor) -> Tensor:
        scores = torch.sigmoid(self.proj(self.drop(h)))  # (B, N, 1)
        keep = max(int(h.shape[1] * self.ratio), 1)
        idx = torch.topk(scores, keep, dim=1).indices.expand(-1, -1, h.shape[-1])
        return torch.gather(h * scores, 1, idx)


# --------------------------------------------------------------------------- shared back-end


class _AASISTGraphBackend(nn.Module):
    """Residual encoder + GAT-S/GAT-T + two HS-GAL branches + readout + output layer.

    Subclasses turn their input into the first 2-D map and into node features ``e_S``/``e_T``;
    parameters sit at top level so state-dict keys match the released checkpoints.
    """

    def __init__(
        self,
        blocks: Sequence[Sequence[int]],
        gat_dims: Sequence[int],
        pool_ratios: Sequence[float],
        temperatures: Sequence[float],
        n_spectral_nodes: int,
        block_pool: bool,
    ) -> None:
        super().__init__()
        (b1, b2, b3, b4), enc_dim, (g0, g1) = blocks, blocks[-1][-1], gat_dims
        specs = [(b1, True), (b2, False), (b3, False), (b4, False), (b4, False), (b4, False)]
        self.first_bn = nn.BatchNorm2d(1)
        self.encoder = nn.Sequential(
            *(nn.Sequential(ResidualBlock(i, o, first, block_pool)) for (i, o), first in specs)
        )
        self.pos_S = nn.Parameter(torch.randn(1, n_spectral_nodes, enc_dim))
        self.master1 = nn.Parameter(torch.randn(1, 1, g0))
        self.master2 = nn.Parameter(torch.randn(1, 1, g0))
        self.GAT_layer_S = GraphAttentionLayer(enc_dim, g0, temperatures[0])
        self.GAT_layer_T = GraphAttentionLayer(enc_dim, g0, temperatures[1])
        self.HtrgGAT_layer_ST11 = HtrgGraphAttentionLayer(g0, g1, temperatures[2])
        self.HtrgGAT_layer_ST12 = HtrgGraphAttentionLayer(g1, g1, temperatures[2])
        self.HtrgGAT_layer_ST21 = HtrgGraphAttentionLayer(g0, g1, temperatures[2])
        self.HtrgGAT_layer_ST22 = HtrgGraphAttentionLayer(g1, g1, temperatures[2])
        self.pool_S = GraphPool(pool_ratios[0], g0)
        self.pool_T = GraphPool(pool_ratios[1], g0)
        self.pool_hS1 = GraphPool(pool_ratios[2], g1)
        self.pool_hT1 = GraphPool(pool_ratios[2], g1)
        self.pool_hS2 = GraphPool(pool_ratios[2], g1)
        self.pool_hT2 = GraphPool(pool_ratios[2], g1)
        self.drop_way = nn.Dropout(0.2)
        self.drop = nn.Dropout(0.5)
        self.out_layer = nn.Linear(5 * g1, 2)
        self.embedding_dim = 5 * g1

    def _branch(
        self, out_t: Tensor, out_s: Tensor, master: Tensor, layers: tuple[nn.Module, ...]
    ) -> tuple[Tensor, Tensor, Tensor]:
        """One inference branch: HS-GAL, pool both node types, residual second HS-GAL."""
        gal1, gal2, pool_t, pool_s = layers
        t, s, master = gal1(out_t, out_s, master)
        t, s = pool_t(t), pool_s(s)
        t_aug, s_aug, m_aug = gal2(t, s, master)
        return self.drop_way(t + t_aug), self.drop_way(s + s_aug), self.drop_way(master + m_aug)

    def _readout(self, e_s: Tensor, e_t: Tensor) -> Tensor:
        """Spectral nodes ``(B, S, C)`` and temporal nodes ``(B, T, C)`` -> embedding."""
        out_s = self.pool_S(self.GAT_layer_S(e_s + self.pos_S))
        out_t = self.pool_T(self.GAT_layer_T(e_t))
        branch1 = (self.HtrgGAT_layer_ST11, self.HtrgGAT_layer_ST12, self.pool_hT1, self.pool_hS1)
        branch2 = (self.HtrgGAT_layer_ST21, self.HtrgGAT_layer_ST22, self.pool_hT2, self.pool_hS2)
        t1, s1, m1 = self._branch(out_t, out_s, self.master1, branch1)
        t2, s2, m2 = self._branch(out_t, out_s, self.master2, branch2)
        t, s, master = torch.maximum(t1, t2), torch.maximum(s1, s2), torch.maximum(m1, m2)
        pooled = [t.abs().amax(dim=1), t.mean(dim=1), s.abs().amax(dim=1), s.mean(dim=1)]
        return torch.cat([*pooled, master.squeeze(1)], dim=1)

    def _head(self, hidden: Tensor, return_embedding: bool) -> Tensor | tuple[Tensor, Tensor]:
        logits = self.out_layer(self.drop(hidden))
        return (hidden, logits) if return_embedding else logits


# --------------------------------------------------------------------------- public models


# Inference runs the first TILED_BLOCKS residual blocks TILE_COLUMNS output columns at a time
# (ResidualBlock.forward_tiled); the later blocks' maps are small enough to run whole.
TILED_BLOCKS = 3
TILE_COLUMNS = 256


class RawAASIST(_AASISTGraphBackend):
    """Official raw-waveform AASIST / AASIST-L (sinc front-end on 16 kHz audio).

    ``forward(x)`` takes ``(B, samples)`` (``config.nb_samp`` = 64 600 in training) and returns
    logits ``(B, 2)`` (column 1 = bona fide); with ``return_embedding=True`` it returns
    ``(embedding, logits)``, the embedding being the ``(B, 5 * gat_dims[1])`` readout before
    the readout dropout and the output layer.
    """

    # reconfake.detector.inference.bonafide_scores runs it one clip per CPU thread
    clip_parallel_inference = True

    def __init__(self, config: AASISTConfig = AASIST_CONFIG) -> None:
        n_filters, *blocks = config.filts
        super().__init__(
            blocks,
            config.gat_dims,
            config.pool_ratios,
            config.temperatures,
            n_spectral_nodes=n_filters // 3,
            block_pool=True,
        )
        self.config = config
        self.conv_time = SincConv(n_filters, config.first_conv)

    def forward(
        self, x: Tensor, return_embedding: bool = False, freq_mask: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        x = self.conv_time(x.unsqueeze(1), freq_mask=freq_mask).unsqueeze(1)  # (B, 1, F, L')
        if torch.is_grad_enabled():
            x = F.selu(self.first_bn(F.max_pool2d(x.abs(), (3, 3))))
            e = self.encoder(x)
        else:  # inference: the same values, computed cache-sized on the CPU (see forward_tiled)
            x = F.selu(self.first_bn(max_pool_3x3(x.abs())))
            tiled = TILED_BLOCKS if x.device.type == "cpu" else 0  # a GPU wants few, big ops
            for i, stage in enumerate(self.encoder):
                x = stage[0].forward_tiled(x, TILE_COLUMNS) if i < tiled else stage(x)
            e = x
        e = e.abs()  # (B, C, spectral, temporal)
        hidden = self._readout(e.amax(dim=3).transpose(1, 2), e.amax(dim=2).transpose(1, 2))
        return self._head(hidden, return_embedding)


SSL_BLOCKS = ((1, 32), (32, 32), (32, 64), (64, 64))
SSL_PROJ_DIM = 128


class SSLAASISTBackend(_AASISTGraphBackend):
    """SSL-AASIST back-end: AASIST graph modules on a projected SSL feature sequence.

    Input ``(B, T, feature_dim)`` (e.g. XLS-R layer outputs, ``feature_dim=1024``) is projected
    by ``LL`` to 128 dims, viewed as a 1-channel 128 x T map, max-pooled (3, 3), batch-normed
    + SELU, encoded by residual blocks without time pooling, then summarised along each axis by
    attentive (softmax-weighted) pooling instead of max|.|. Pool ratios 0.5, temperatures
    2, 2, 100, 100, gat_dims 64, 32. Needs ``T >= 3``. Same outputs as :class:`RawAASIST`.

    ``proj_dim`` (128) and the encoder ``channels`` (32, 64) are SSL-AASIST's; smaller values
    give a narrower back-end for CPU budgets (the embedded default uses 64 and (16, 32), about
    4x faster to train), which released checkpoints do not load into.
    """

    def __init__(self, feature_dim: int = 1024, proj_dim: int = SSL_PROJ_DIM,
                 channels: Sequence[int] = (32, 64)) -> None:
        c1, c2 = (int(c) for c in channels)
        if proj_dim < 9 or c1 < 1 or c2 < 1:
            raise ValueError(f"SSL-AASIST back-end: proj_dim must be >= 9 and channels "
                             f"positive, got proj_dim={proj_dim}, channels={list(channels)}")
        super().__init__(
            ((1, c1), (c1, c1), (c1, c2), (c2, c2)),
            (64, 32),
            (0.5, 0.5, 0.5, 0.5),
            (2.0, 2.0, 100.0, 100.0),
            n_spectral_nodes=proj_dim // 3,
            block_pool=False,
        )
        channels = c2
        self.feature_dim = feature_dim
        self.LL = nn.Linear(feature_dim, proj_dim)
        self.first_bn1 = nn.BatchNorm2d(channels)
        self.attention = nn.Sequential(
            nn.Conv2d(channels, 128, kernel_size=(1, 1)),
            nn.SELU(),
            nn.BatchNorm2d(128),
            nn.Conv2d(128, channels, kernel_size=(1, 1)),
        )

    def forward(
        self, feats: Tensor, return_embedding: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        x = self.LL(feats).transpose(1, 2).unsqueeze(1)  # (B, 1, 128, T)
        x = F.selu(self.first_bn(F.max_pool2d(x, (3, 3))))
        x = F.selu(self.first_bn1(self.encoder(x)))  # (B, C, 42, T')
        w = self.attention(x)
        e_s = (x * torch.softmax(w, dim=-1)).sum(dim=-1).transpose(1, 2)
        e_t = (x * torch.softmax(w, dim=-2)).sum(dim=-2).transpose(1, 2)
        return self._head(self._readout(e_s, e_t), return_embedding)


# --------------------------------------------------------------------------- checkpoints


def load_state_dict_strict(model: ModelT, path: str | Path) -> ModelT:
    """Load a state dict file into ``model`` strictly and return the model.

    A ``module.`` prefix (DataParallel checkpoints) is stripped. Missing keys, unexpected keys
    or shape mismatches raise ``ValueError`` naming the file and (up to 10 of) each kind.
    """
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict, got {type(state).__name__}")
    if state and all(k.startswith("module.") for k in state):
        state = {k.removeprefix("module."): v for k, v in state.items()}
    check_state_dict(model.state_dict(), state,
                     f"state dict {path} does not fit {type(model).__name__}")
    model.load_state_dict(state, strict=True)
    return model


def _returns_embedding(cls: type[nn.Module]) -> type[nn.Module]:
    """Subclass whose forward returns ``(embedding, logits)``, keeping state-dict keys."""

    class WithEmbedding(cls):  # type: ignore[misc, valid-type]
        def forward(self, x, **kwargs):  # noqa: ANN001
            return super().forward(x, return_embedding=True, **kwargs)

    WithEmbedding.__name__ = cls.__name__
    return WithEmbedding


@ARCHITECTURES.register("aasist")
def build_aasist(**options: Any) -> nn.Module:
    """Official raw-waveform AASIST (loads the released AASIST.pth); ``options`` is an official
    ``model_config`` (default: :data:`AASIST_CONFIG`)."""
    config = AASISTConfig.from_dict(options) if options else AASIST_CONFIG
    return _returns_embedding(RawAASIST)(config)


@ARCHITECTURES.register("aasist-l")
def build_aasist_l(**options: Any) -> nn.Module:
    """Official raw-waveform AASIST-L (loads the released AASIST-L.pth); ``options`` as for
    ``aasist`` (default: :data:`AASIST_L_CONFIG`)."""
    config = AASISTConfig.from_dict(options) if options else AASIST_L_CONFIG
    return _returns_embedding(RawAASIST)(config)
