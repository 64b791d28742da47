"""The training objective: weighted cross-entropy plus RACL (L_enh + L_reg), every term
switchable and weighted.

``DetectorLoss`` returns every term separately so logs and ablations can see each one;
``total`` is what is minimised::

    total = CE_w + enh_weight * L_enh + reg_weight * L_reg

RACL ("Regularization-Assisted Contrastive Learning") is named but not specified by the paper;
the two terms below are our interpretation (reasoning in docs/detector.md). Both work on
L2-normalised embeddings ``z``; a batch holds bona fide clips together with their own
reconstructions (same ``group``, label spoof).

* ``L_enh`` (enhancement): supervised contrastive loss anchored on bona fide clips. For a
  bona fide anchor ``i`` with positives ``P(i)`` (the other bona fide clips) and negatives
  ``N(i)`` (all spoofs), of which ``H(i)`` are reconstructions of ``i`` itself::

      l_i = -1/|P(i)| sum_{p in P(i)} log( e^{s_ip} / (sum_{a in P(i)} e^{s_ia}
                                                     + sum_{n in N(i)} w_in e^{s_in}) )
      s_ij = z_i . z_j / temperature,   w_in = hard_negative_weight if n in H(i) else 1

  averaged over the anchors that have at least one positive and one negative (0 when none).
* ``L_reg`` (regulariser): the mean squared distance of each embedding to its class
  centroid in the batch, averaged over classes with at least two clips; for unit vectors
  that is ``1 - |mean_c z|^2`` per class. It tightens both classes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def enhancement_loss(embedding: Tensor, labels: Tensor, groups: Tensor, temperature: float = 0.5,
                     hard_negative_weight: float = 2.0) -> Tensor:
    """``L_enh``: bona fide-anchored supervised contrastive loss in which each bona fide
    clip's own reconstructions (same group, spoof) are up-weighted hard negatives."""
    z = F.normalize(embedding.float(), dim=1)
    n = z.shape[0]
    bona = labels == 1
    eye = torch.eye(n, dtype=torch.bool, device=z.device)
    positive = bona[:, None] & bona[None, :] & ~eye
    negative = bona[:, None] & ~bona[None, :]
    hard = negative & (groups[:, None] == groups[None, :])
    anchors = positive.any(dim=1) & negative.any(dim=1)
    if not bool(anchors.any()):
        return embedding.sum() * 0.0  # keeps the graph, so backward() works
    sim = z @ z.T / temperature
    logits = sim + hard * math.log(hard_negative_weight)
    # Excluded pairs get a large finite negative (not -inf): exp() makes them 0 and rows
    # without any pair keep finite gradients.
    logits = torch.where(positive | negative, logits, torch.full_like(sim, -1e9))
    log_prob = sim - torch.logsumexp(logits, dim=1, keepdim=True)
    per_anchor = -torch.where(positive, log_prob, 0.0).sum(dim=1) / positive.sum(dim=1).clamp(min=1)
    return per_anchor[anchors].mean()


def compactness_loss(embedding: Tensor, labels: Tensor) -> Tensor:
    """``L_reg``: mean squared distance of normalised embeddings to their class centroid,
    averaged over the classes with two or more clips in the batch (0 when none)."""
    z = F.normalize(embedding.float(), dim=1)
    terms = []
    for cls in torch.unique(labels):
        members = z[labels == cls]
        if len(members) >= 2:
            terms.append((members - members.mean(dim=0)).pow(2).sum(dim=1).mean())
    return torch.stack(terms).mean() if terms else embedding.sum() * 0.0


class DetectorLoss(nn.Module):
    """Weighted CE over (spoof, bona fide) plus the switchable RACL terms.

    Args:
        ce_weights: class weights (spoof, bona fide); SSL-AASIST uses (0.1, 0.9).
        enh: add ``L_enh``; ``enh_weight`` its weight; ``temperature`` and
            ``hard_negative_weight`` its settings.
        reg: add ``L_reg``; ``reg_weight`` its weight.
    """

    def __init__(self, ce_weights: tuple[float, float] = (0.1, 0.9), enh: bool = False,
                 enh_weight: float = 0.1, temperature: float = 0.5,
                 hard_negative_weight: float = 2.0, reg: bool = False, reg_weight: float = 0.1):
        super().__init__()
        if temperature <= 0 or hard_negative_weight <= 0:
            raise ValueError("RACL temperature and hard_negative_weight must be positive")
        self.register_buffer("ce_weights", torch.tensor(ce_weights, dtype=torch.float32))
        self.enh, self.enh_weight = enh, enh_weight
        self.temperature, self.hard_negative_weight = temperature, hard_negative_weight
        self.reg, self.reg_weight = reg, reg_weight

    def forward(self, embedding: Tensor, logits: Tensor, labels: Tensor,
                groups: Tensor) -> dict[str, Tensor]:
        """Loss terms (unweighted) and ``total`` (weighted sum). ``groups`` ties clips to
        their source clip."""
        # float32 even under AMP: the similarity logits and their -1e9 mask overflow float16
        with torch.autocast(device_type=logits.device.type, enabled=False):
            embedding, logits = embedding.float(), logits.float()
            ce = F.cross_entropy(logits, labels, weight=self.ce_weights)
            terms = {"total": ce, "ce": ce}
            if self.enh:
                terms["enh"] = enhancement_loss(embedding, labels, groups, self.temperature,
                                                self.hard_negative_weight)
                terms["total"] = terms["total"] + self.enh_weight * terms["enh"]
            if self.reg:
                terms["reg"] = compactness_loss(embedding, labels)
                terms["total"] = terms["total"] + self.reg_weight * terms["reg"]
        return terms
