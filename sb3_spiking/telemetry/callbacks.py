"""
An SB3 callback that logs the spike statistics and the energy estimate of a spiking policy during training.

::

    from sb3_spiking.telemetry import SpikeStatsCallback

    model = PPO("SpikingMlpPolicy", "CartPole-v1", tensorboard_log="runs")
    model.learn(50_000, callback=SpikeStatsCallback(log_freq=1_000))

From rl-zoo3, in a hyperparameter file::

    callback:
      - sb3_spiking.SpikeStatsCallback:
          log_freq: 1000
"""

from collections import deque
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.policies import ActorCriticPolicy

from sb3_spiking.telemetry.energy import E_AC_PJ, E_MAC_PJ
from sb3_spiking.telemetry.stats import spike_stats


class SpikeStatsCallback(BaseCallback):
    """
    Every ``log_freq`` environment steps, runs the policy on the last ``n_obs`` observations it met, with spike
    statistics on, and records to SB3's logger (TensorBoard, CSV, stdout; written at the algorithm's next dump):

    - ``spikes/rate/<layer>``, ``spikes/silent/<layer>``, ``spikes/saturated/<layer>`` for every spiking layer, of the
      actor (or Q-network) and, for actor-critic policies, of the critic too;
    - ``energy/sop``, ``energy/mac``, ``energy/ann_mac`` (per observation), ``energy/snn_nj``, ``energy/ann_nj``,
      ``energy/ratio_vs_ann`` (SNN / ANN energy) of the deterministic action function, what a deployed agent runs.

    Between logs it only keeps references to the observations (no forward pass, no hook). With a recurrent policy
    (RecurrentPPO, the stateful spiking policies) it also keeps the state each observation's env step started
    from, so that the measure is of the env steps as they ran, potentials carried.

    :param log_freq: Log every ``log_freq`` environment steps (summed over environments)
    :param n_obs: Number of recent observations to measure on
    :param e_mac_pj: Energy of a multiply-accumulate in pJ
    :param e_ac_pj: Energy of an accumulate in pJ
    :param verbose: Verbosity level
    """

    def __init__(
        self,
        log_freq: int = 1_000,
        n_obs: int = 256,
        e_mac_pj: float = E_MAC_PJ,
        e_ac_pj: float = E_AC_PJ,
        verbose: int = 0,
    ) -> None:
        super().__init__(verbose)
        if int(log_freq) < 1 or int(n_obs) < 1:
            raise ValueError(f"log_freq and n_obs must be >= 1, got log_freq={log_freq!r}, n_obs={n_obs!r}")
        self.log_freq = int(log_freq)
        self.n_obs = int(n_obs)
        self.e_mac_pj = e_mac_pj
        self.e_ac_pj = e_ac_pj
        self._recent: deque = deque(maxlen=self.n_obs)
        self._recent_states: deque = deque(maxlen=self.n_obs)  # recurrent policies: (pi, vf, episode start) per obs
        self._next_log = self.log_freq

    def _on_training_start(self) -> None:
        self._next_log = (self.num_timesteps // self.log_freq + 1) * self.log_freq
        if isinstance(self.model.observation_space, spaces.Dict):
            raise ValueError("SpikeStatsCallback supports Box / Discrete / MultiBinary observation spaces, not Dict ones.")

    def _on_step(self) -> bool:
        new_obs = self.locals.get("new_obs")
        if new_obs is not None:
            self._recent.extend(np.array(new_obs))
            states, dones = self.locals.get("lstm_states"), self.locals.get("dones")
            if isinstance(self.model.policy, RecurrentActorCriticPolicy) and states is not None and dones is not None:
                for env in range(len(new_obs)):  # the state that the env step of new_obs starts from
                    pi, vf = (tuple(part[:, env].cpu().numpy() for part in which) for which in (states.pi, states.vf))
                    self._recent_states.append((pi, vf, float(dones[env])))
        if self.num_timesteps >= self._next_log and self._recent:
            self._next_log = (self.num_timesteps // self.log_freq + 1) * self.log_freq
            carried = list(self._recent_states) if len(self._recent_states) == len(self._recent) else None
            measured = (
                self.measure(np.stack(self._recent)) if carried is None else self.measure(np.stack(self._recent), carried)
            )
            for key, value in measured.items():
                self.logger.record(key, value)
        return True

    def measure(self, observations: np.ndarray, states: "list | None" = None) -> dict[str, Any]:
        """
        Spike statistics and energy of the policy on a batch of observations.

        :param observations: ``[n, *obs_shape]``
        :param states: Recurrent policies: per observation, the actor's and the critic's state and whether an
            episode starts there (``(pi, vf, start)``, as kept from the rollouts); None: each env step from rest
        :return: The namespaced scalars to log
        """
        policy = self.model.policy
        obs_tensor, _ = policy.obs_to_tensor(observations)
        actor_args: tuple = ()
        critic_args: tuple = ()
        if isinstance(policy, RecurrentActorCriticPolicy):
            n, shape = len(observations), policy.lstm_hidden_state_shape
            rest = np.zeros((shape[0], n, shape[2]), dtype=np.float32)
            pi = tuple(np.stack([s[0][i] for s in states], axis=1) for i in range(2)) if states else (rest, rest)
            vf = tuple(np.stack([s[1][i] for s in states], axis=1) for i in range(2)) if states else (rest, rest)
            starts = th.as_tensor([s[2] for s in states] if states else np.ones(n), dtype=th.float32, device=policy.device)
            actor_args = (tuple(th.as_tensor(x, device=policy.device) for x in pi), starts)
            critic_args = (tuple(th.as_tensor(x, device=policy.device) for x in vf), starts)
        with th.no_grad():
            with spike_stats(policy) as stats:
                policy._predict(obs_tensor, *actor_args, deterministic=True)
            values = stats.scalars(self.e_mac_pj, self.e_ac_pj)
            if isinstance(policy, ActorCriticPolicy):
                with spike_stats(policy) as critic:
                    policy.predict_values(obs_tensor, *critic_args)
                for name, layer in critic.layers.items():
                    values.setdefault(f"spikes/rate/{name}", layer.rate)
                    values.setdefault(f"spikes/silent/{name}", layer.silent)
                    values.setdefault(f"spikes/saturated/{name}", layer.saturated)
        values["spikes/n_obs"] = len(observations)
        return values
