"""The SDEdit timestep schedule shared by the diffusion backends (``audioldm``, ``mel_diffusion``).

SDEdit noises a clip part-way (``strength``: the fraction of the noise schedule) and denoises
it from there. Both backends run ``steps`` DDIM steps that are the *last* ``steps`` of a
schedule which would run ``steps / strength`` steps from pure noise, so denoising starts near
``strength`` of the way up the schedule and the step spacing stays the scheduler's own.
"""

from __future__ import annotations

from typing import Any


def sdedit_timesteps(scheduler: Any, steps: int, strength: float) -> list[int]:
    """The DDIM timesteps of an SDEdit at ``strength``, largest first.

    The last ``steps`` of a schedule of ``round(steps / strength)`` steps (at least ``steps``,
    at most the scheduler's ``num_train_timesteps``); none when ``strength`` is 0. Calls
    ``scheduler.set_timesteps``, so the scheduler is left set for that schedule.
    """
    if strength <= 0:
        return []
    total = min(max(steps, round(steps / strength)), int(scheduler.config.num_train_timesteps))
    scheduler.set_timesteps(total)
    return [int(t) for t in scheduler.timesteps[total - steps:]]
