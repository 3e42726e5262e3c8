"""
TD3 with a proxy target actor (Xu et al., "Proxy Target", arXiv 2505.24161): the target actor is an ANN fitted to
the online spiking actor's actions on replayed states, instead of a polyak-averaged copy of the spiking actor.

It cannot live in a policy under the stock algorithm: ``TD3.train`` polyak-averages ``actor.parameters()`` into
``actor_target.parameters()`` (zipped strictly, so the target must be a copy of the actor) and nothing there would
fit a proxy. :class:`ProxyTargetTD3` is the smallest subclass that does it: it keeps TD3's update as it is (the
polyak average still runs, on a spiking copy that nothing reads), computes the target actions with the proxy, and
after each call of ``train`` fits the proxy to the online actor by ``proxy_steps`` regression steps per gradient
step on replayed observations. With DDPG's settings (``policy_delay=1, target_noise_clip=0.0,
target_policy_noise=0.1``) it is DDPG with a proxy target.
"""

from typing import Any

import numpy as np
import torch as th
from stable_baselines3 import TD3
from stable_baselines3.td3.policies import Actor
from torch import nn
from torch.nn import functional as F


class _ProxyTarget:
    """What ``TD3.train`` sees as ``actor_target``: the proxy acts, the (unused) spiking copy takes the polyak update."""

    def __init__(self, proxy: nn.Module, averaged: nn.Module) -> None:
        self.proxy = proxy
        self.averaged = averaged

    def __call__(self, observations: th.Tensor) -> th.Tensor:
        return self.proxy(observations)

    def parameters(self) -> Any:
        return self.averaged.parameters()

    def state_dict(self) -> dict[str, th.Tensor]:
        return self.averaged.state_dict()


class ProxyTargetTD3(TD3):
    """
    TD3 (and, with its settings, DDPG) whose target actor is an ANN proxy fitted to the online actor. Takes TD3's
    parameters and:

    :param proxy_steps: Regression steps of the proxy per gradient step (batch ``batch_size`` of replayed states)
    :param proxy_net_arch: Hidden layers of the ANN proxy (default: the actor's)
    """

    def __init__(self, *args: Any, proxy_steps: int = 1, proxy_net_arch: Any = None, **kwargs: Any) -> None:
        if isinstance(proxy_steps, bool) or not isinstance(proxy_steps, int) or proxy_steps < 1:
            raise ValueError(f"proxy_steps must be an integer >= 1, got {proxy_steps!r}")
        self.proxy_steps = proxy_steps
        self.proxy_net_arch = proxy_net_arch
        super().__init__(*args, **kwargs)

    def _setup_model(self) -> None:
        super()._setup_model()
        actor = self.policy.actor
        # The spiking policies give the ANN counterpart of a spiking extractor; SB3's own policies their extractor
        make_extractor = getattr(self.policy, "make_ann_features_extractor", self.policy.make_features_extractor)
        features_extractor = make_extractor()
        proxy = Actor(
            self.observation_space,
            self.action_space,  # type: ignore[arg-type]
            net_arch=list(actor.net_arch if self.proxy_net_arch is None else self.proxy_net_arch),
            features_extractor=features_extractor,
            features_dim=features_extractor.features_dim,
            normalize_images=self.policy.normalize_images,
        ).to(self.device)
        proxy.optimizer = self.policy.optimizer_class(  # type: ignore[attr-defined]
            proxy.parameters(), lr=self.lr_schedule(1), **self.policy.optimizer_kwargs
        )
        # Part of the policy: saved and loaded with it
        self.policy.proxy_actor = proxy
        self._fit_proxy(100)  # start from the online actor's function, as the copied target would
        self._create_aliases()

    def _create_aliases(self) -> None:
        super()._create_aliases()
        if hasattr(self.policy, "proxy_actor"):
            self.actor_target = _ProxyTarget(self.policy.proxy_actor, self.policy.actor_target)  # type: ignore[assignment]

    def _fit_proxy(self, steps: int, batch_size: int = 256) -> float:
        """Regress the proxy on the online actor's actions; replayed states once there are any, else samples."""
        proxy = self.policy.proxy_actor
        loss = th.zeros(())
        for _ in range(steps):
            if self.replay_buffer is not None and self.replay_buffer.size() > 0:
                observations = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env).observations
            else:
                samples = np.stack([self.observation_space.sample() for _ in range(batch_size)])
                observations = self.policy.obs_to_tensor(samples)[0]
            with th.no_grad():
                target = self.actor(observations)
            loss = F.mse_loss(proxy(observations), target)
            proxy.optimizer.zero_grad()
            loss.backward()
            proxy.optimizer.step()
        return float(loss.detach())

    def train(self, gradient_steps: int, batch_size: int = 100) -> None:
        super().train(gradient_steps, batch_size)
        self.logger.record("train/proxy_loss", self._fit_proxy(gradient_steps * self.proxy_steps, batch_size))
