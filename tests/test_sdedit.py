"""The SDEdit schedule both diffusion backends run: exact DDIM timesteps per case."""

import pytest

diffusers = pytest.importorskip("diffusers")

from reconfake.paradigms.sdedit import sdedit_timesteps  # noqa: E402


def leading(train: int = 1000):
    """AudioLDM's scheduler: DDIM, ``leading`` spacing, ``steps_offset=1``."""
    return diffusers.DDIMScheduler(num_train_timesteps=train, steps_offset=1)


def trailing(train: int = 1000):
    """mel_diffusion's scheduler: DDIM, ``trailing`` spacing."""
    return diffusers.DDIMScheduler(num_train_timesteps=train, timestep_spacing="trailing",
                                   set_alpha_to_one=True, clip_sample=True)


@pytest.mark.parametrize("make, train, steps, strength, expected", [
    (leading, 1000, 5, 1.0, [801, 601, 401, 201, 1]),
    (leading, 1000, 2, 0.2, [101, 1]),
    (leading, 1000, 10, 0.5, [451, 401, 351, 301, 251, 201, 151, 101, 51, 1]),
    (trailing, 1000, 4, 0.5, [499, 374, 249, 124]),
    (trailing, 1000, 5, 0.4, [416, 332, 249, 166, 82]),  # round(12.5) = 12 schedule steps
    (trailing, 50, 10, 0.1, [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]),  # 100 steps capped at 50
    (trailing, 1000, 3, 0.0, []),
])
def test_sdedit_timesteps(make, train, steps, strength, expected):
    assert sdedit_timesteps(make(train), steps, strength) == expected
