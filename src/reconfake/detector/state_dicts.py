"""The one strict fit check of a state dict against a model: missing keys, unexpected keys and
shape mismatches, all named in one error (the official AASIST weights, reconfake checkpoints and
converted SSL-AASIST releases all go through it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def head(items: list[str], n: int = 10) -> str:
    """The first ``n`` items joined, with how many more there are."""
    more = f" ... (+{len(items) - n} more)" if len(items) > n else ""
    return (", ".join(items[:n]) or "none") + more


def check_state_dict(expected: Mapping[str, Any], state: Mapping[str, Any], what: str) -> None:
    """Raise ``ValueError`` starting with ``what`` unless ``state`` has exactly the keys and
    shapes of ``expected`` (a model's ``state_dict()``)."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
              if k in state and tuple(state[k].shape) != tuple(v.shape)]
    if missing or unexpected or shapes:
        raise ValueError(f"{what}: {len(missing)} missing keys [{head(missing)}]; "
                         f"{len(unexpected)} unexpected keys [{head(unexpected)}]; "
                         f"{len(shapes)} shape mismatches (file vs model) [{head(shapes)}]")
