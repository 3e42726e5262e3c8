"""Small environments for the policy tests (SB3's and sb3-contrib's test envs)."""

from sb3_contrib.common.envs import InvalidActionEnvDiscrete
from stable_baselines3.common.envs import (
    FakeImageEnv,
    IdentityEnv,
    IdentityEnvBox,
    IdentityEnvMultiBinary,
    IdentityEnvMultiDiscrete,
    SimpleMultiObsEnv,
)


def image_env(discrete: bool = True) -> FakeImageEnv:
    return FakeImageEnv(screen_height=40, screen_width=40, n_channels=1, discrete=discrete)


ENVS = {
    "discrete": lambda: IdentityEnv(4),
    "box": lambda: IdentityEnvBox(ep_length=20),
    "multi-discrete": lambda: IdentityEnvMultiDiscrete(3),
    "multi-binary": lambda: IdentityEnvMultiBinary(3),
    "image-discrete": lambda: image_env(True),
    "image-box": lambda: image_env(False),
    "dict": lambda: SimpleMultiObsEnv(random_start=False),
    "masked": lambda: InvalidActionEnvDiscrete(dim=6, n_invalid_actions=3),
}
