"""
Stateful spiking policies for sb3-contrib's ``RecurrentPPO``: the membrane potentials are the recurrent state.

The package's other policies simulate each observation for ``T`` steps from rest. These ones run as a spiking
network runs on neuromorphic hardware: each env step is ``T`` simulation steps (1 by default) that start from the
potentials the previous env step left, so the network remembers. The potentials of every spiking layer and of the
non-spiking readout, actor and critic apart, are what ``RecurrentPPO`` keeps in place of an LSTM's ``(h, c)``: the
algorithm, its rollout buffer, its sequence padding and minibatches, and ``predict(obs, state, episode_start)``
work unchanged, and the potentials are reset to rest where ``episode_starts`` is 1, exactly where the LSTM's state
is. See :mod:`sb3_spiking.snn.stateful` for the layers and ``docs/guide/stateful.rst`` for the guide.

Names. sb3-contrib names its recurrent policies ``<features><memory>Policy`` (``MlpLstmPolicy``, ``CnnLstmPolicy``,
``MultiInputLstmPolicy``). These policies have no LSTM: their memory is the spiking neurons' own potential, so the
names keep the pattern with the memory said generically, as sb3-contrib's classes do
(``RecurrentActorCriticPolicy``): ``SpikingMlpRecurrentPolicy``, ``SpikingCnnRecurrentPolicy``,
``SpikingMultiInputRecurrentPolicy``. The ``Spiking`` prefix is that of every name of the package (the autoload
recognises it).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Optional

import torch as th
from gymnasium import spaces
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
from sb3_contrib.common.recurrent.type_aliases import RNNStates
from stable_baselines3.common.distributions import Distribution
from stable_baselines3.common.policies import ActorCriticPolicy, BasePolicy
from stable_baselines3.common.type_aliases import Schedule
from torch import nn

from sb3_spiking.policies.base import SpikingActorCriticMixin
from sb3_spiking.snn import RunningNorm, SpikingCombinedExtractor, SpikingNatureCNN
from sb3_spiking.snn.membrane_state import MembraneState
from sb3_spiking.snn.stateful import StatefulReadout, add_recurrent_synapses_, make_stateful_

#: Scale of the recurrent weights at initialisation, relative to the threshold (see ``spiking_init_``)
RECURRENT_GAIN = 1.0
#: RecurrentActorCriticPolicy's LSTM keywords, which have no meaning here
LSTM_KEYWORDS = ("lstm_hidden_size", "n_lstm_layers", "shared_lstm", "enable_critic_lstm", "lstm_kwargs")


class MembraneStateShape:
    """
    What ``RecurrentPPO`` reads from a policy's ``lstm_actor`` to size its states and buffer: one "layer" of
    ``hidden_size`` values in each of ``h`` and ``c``, which together hold the flat vector of potentials.

    :param hidden_size: The width of each half: about half the potentials of the larger network (actor or critic),
        cut between two layers (see :meth:`~sb3_spiking.snn.membrane_state.MembraneState.best_half`)
    """

    num_layers = 1

    def __init__(self, hidden_size: int) -> None:
        self.hidden_size = hidden_size

    def __repr__(self) -> str:
        return f"MembraneStateShape(num_layers=1, hidden_size={self.hidden_size})"


class _RecurrentWithoutLstm(RecurrentActorCriticPolicy):
    """``RecurrentActorCriticPolicy`` built as an ``ActorCriticPolicy``: the recurrent part is the subclass's."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, lr_schedule: Schedule, **kwargs: Any):
        ActorCriticPolicy.__init__(self, observation_space, action_space, lr_schedule, **kwargs)


class SpikingRecurrentActorCriticPolicy(SpikingActorCriticMixin, _RecurrentWithoutLstm):
    """
    Stateful spiking actor-critic for ``RecurrentPPO`` (``SpikingMlpRecurrentPolicy``): spiking hidden layers and
    non-spiking readouts as in :class:`~sb3_spiking.policies.actor_critic.SpikingActorCriticPolicy`, whose
    potentials are carried from one env step to the next and reset to rest where an episode starts.

    The state of each network is the flat vector of its potentials (features extractor's neurons, hidden layers,
    readout), cut between two layers into RecurrentPPO's ``h`` and ``c`` (``[1, n_envs, hidden_size]`` each, padded
    with zeros; :mod:`~sb3_spiking.snn.membrane_state`). ``T`` is the number of simulation steps per env step (default 1); the
    decoders read the ``T`` steps of each env step. The neuron defaults to ``"lif"``: an IF neuron's potential,
    never reset between env steps, drifts without bound under a negative input. The input normalisation
    (``input_norm``) takes its statistics from the rollouts (every env step once, as ``VecNormalize`` does) rather
    than from the padded training sequences.

    With ``recurrent_synapses`` (the default) each fully connected spiking layer also feeds its own spikes back to
    itself, one simulation step later (:func:`~sb3_spiking.snn.stateful.add_recurrent_synapses_`): its state is its
    potential and its last spikes. Without them each layer is a low-pass filter of its input followed by a threshold,
    which cannot form the difference of the present and the past that a hidden velocity needs
    (``lab/stateful_memory_probe.md``).

    :param observation_space: Observation space
    :param action_space: Action space
    :param lr_schedule: Learning rate schedule
    :param recurrent_synapses: Whether the fully connected spiking layers have recurrent synapses
    :param kwargs: :class:`ActorCriticPolicy`'s parameters (``net_arch``: the spiking hidden layers of the actor and
        the critic, ``ortho_init``, ``use_sde``, ...) and the spiking knobs of
        :class:`~sb3_spiking.snn.config.SpikingConfig`; not ``activation_fn`` nor the LSTM keywords
    """

    default_neuron = "lif"
    default_T = 1
    #: The value a knob had before it existed (models saved then are refused, with the fix, where it now differs)
    legacy_knobs = {"recurrent_synapses": False}

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        recurrent_synapses: bool = True,
        **kwargs: Any,
    ):
        if not isinstance(recurrent_synapses, bool):
            raise ValueError(f"recurrent_synapses must be True or False, got {recurrent_synapses!r}")
        self.recurrent_synapses = recurrent_synapses
        lstm = sorted(set(kwargs) & set(LSTM_KEYWORDS))
        if lstm:
            raise ValueError(
                f"{type(self).__name__} has no LSTM, so {lstm} do not apply: its memory is the membrane potential of its "
                "spiking layers, whose sizes net_arch gives (e.g. net_arch=dict(pi=[64, 64], vf=[64, 64]))"
            )
        if kwargs.get("T") is None:
            kwargs["T"] = self.default_T
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)
        self.actor_state = MembraneState([self.pi_features_extractor, self.mlp_extractor.policy_net, self.action_net])
        self.critic_state = MembraneState([self.vf_features_extractor, self.mlp_extractor.value_net, self.value_net])
        with self._norm_updates(False):
            obs = self.obs_to_tensor(observation_space.sample())[0]
            self.actor_state.probe(lambda: self._actor_outputs(obs))
            self.critic_state.probe(lambda: self._critic_outputs(obs))
        hidden_size = max(self.actor_state.best_half(), self.critic_state.best_half())
        # What RecurrentPPO and predict() read to size the states (see RecurrentActorCriticPolicy)
        self.lstm_actor = MembraneStateShape(hidden_size)  # type: ignore[assignment]
        self.lstm_critic = None
        self.critic = None
        self.shared_lstm = False
        self.enable_critic_lstm = True
        self.lstm_hidden_state_shape = (1, 1, hidden_size)

    def _build(self, lr_schedule: Schedule) -> None:
        super()._build(lr_schedule)
        for module in (self.pi_features_extractor, self.vf_features_extractor, self.mlp_extractor):
            make_stateful_(module)
        if self.recurrent_synapses:
            for layers in (self.mlp_extractor.policy_net, self.mlp_extractor.value_net):
                add_recurrent_synapses_(layers, self.spiking.T, self.spiking.v_threshold, RECURRENT_GAIN)
            # as ActorCriticPolicy._build ends, now with the recurrent weights
            self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)

    def _readout(self, linear: nn.Module) -> StatefulReadout:
        return StatefulReadout(linear, self.spiking.T, self.spiking.decoder, self.spiking.decoder_tau)

    # The networks, one forward pass each (a whole sequence of env steps when a state is carried)

    def _actor_outputs(self, obs: th.Tensor) -> Distribution:
        features = BasePolicy.extract_features(self, obs, self.pi_features_extractor)
        return self._get_action_dist_from_latent(self.mlp_extractor.forward_actor(features))

    def _critic_outputs(self, obs: th.Tensor) -> th.Tensor:
        features = BasePolicy.extract_features(self, obs, self.vf_features_extractor)
        return self.value_net(self.mlp_extractor.forward_critic(features))

    def _carried(self, which: MembraneState, run: Any, obs: Any, state: tuple[th.Tensor, ...], starts: th.Tensor) -> Any:
        """``run(obs)`` from ``state`` with resets where ``starts`` is 1; returns its output and the end state."""
        h = state[0][0]
        with which.carry(which.from_halves(h, state[1][0]), starts) as carries:
            output = run(obs)
        h, c = which.to_halves(carries, h)
        return output, (h.unsqueeze(0), c.unsqueeze(0))

    @contextmanager
    def _norm_updates(self, enabled: bool) -> Iterator[None]:
        """Whether the observation normalisations update their statistics inside the block."""
        norms = [module for module in self.modules() if isinstance(module, RunningNorm)]
        modes = [norm.training for norm in norms]
        for norm in norms:
            norm.train(enabled)
        try:
            yield
        finally:
            for norm, mode in zip(norms, modes):
                norm.train(mode)

    # RecurrentActorCriticPolicy's interface

    def forward(
        self, obs: th.Tensor, lstm_states: RNNStates, episode_starts: th.Tensor, deterministic: bool = False
    ) -> tuple[th.Tensor, th.Tensor, th.Tensor, RNNStates]:
        """
        One env step of the actor and the critic (RecurrentPPO's rollouts), the observation statistics updated.

        :param obs: Observations ``[n_envs, *obs_shape]``
        :param lstm_states: The potentials after the previous env step
        :param episode_starts: 1 where an episode starts (the potentials are reset to rest first)
        :param deterministic: Whether to take the most likely actions
        :return: actions, values, log-probabilities of the actions, the new potentials
        """
        with self._norm_updates(self.spiking.input_norm):
            distribution, states_pi = self._carried(self.actor_state, self._actor_outputs, obs, lstm_states.pi, episode_starts)
            values, states_vf = self._carried(self.critic_state, self._critic_outputs, obs, lstm_states.vf, episode_starts)
        actions = distribution.get_actions(deterministic=deterministic)
        log_prob = distribution.log_prob(actions)
        actions = actions.reshape((-1, *self.action_space.shape))  # type: ignore[misc]
        return actions, values, log_prob, RNNStates(states_pi, states_vf)

    def get_distribution(
        self, obs: th.Tensor, lstm_states: tuple[th.Tensor, th.Tensor], episode_starts: th.Tensor
    ) -> tuple[Distribution, tuple[th.Tensor, ...]]:
        """The action distribution and the actor's new potentials (see ``RecurrentActorCriticPolicy``)."""
        return self._carried(self.actor_state, self._actor_outputs, obs, lstm_states, episode_starts)

    def predict_values(self, obs: th.Tensor, lstm_states: tuple[th.Tensor, th.Tensor], episode_starts: th.Tensor) -> th.Tensor:
        """The values, from the critic's potentials (see ``RecurrentActorCriticPolicy``)."""
        return self._carried(self.critic_state, self._critic_outputs, obs, lstm_states, episode_starts)[0]

    def evaluate_actions(
        self, obs: th.Tensor, actions: th.Tensor, lstm_states: RNNStates, episode_starts: th.Tensor
    ) -> tuple[th.Tensor, th.Tensor, Optional[th.Tensor]]:
        """
        Values, log-probabilities and entropy along RecurrentPPO's padded sequences (``[n_seq * max_length, ...]``,
        sequence major), back-propagated through the potentials of each sequence. Padded steps leave the
        observation statistics alone (they are taken from the rollouts).
        """
        with self._norm_updates(False):
            distribution, _ = self._carried(self.actor_state, self._actor_outputs, obs, lstm_states.pi, episode_starts)
            values, _ = self._carried(self.critic_state, self._critic_outputs, obs, lstm_states.vf, episode_starts)
        return values, distribution.log_prob(actions), distribution.entropy()


class SpikingRecurrentActorCriticCnnPolicy(SpikingRecurrentActorCriticPolicy):
    """Stateful spiking policy for image observations (``SpikingCnnRecurrentPolicy``, :class:`SpikingNatureCNN`)."""

    default_features_extractor_class = SpikingNatureCNN


class SpikingRecurrentMultiInputActorCriticPolicy(SpikingRecurrentActorCriticPolicy):
    """Stateful spiking policy for Dict observations (``SpikingMultiInputRecurrentPolicy``)."""

    default_features_extractor_class = SpikingCombinedExtractor


SpikingMlpRecurrentPolicy = SpikingRecurrentActorCriticPolicy
SpikingCnnRecurrentPolicy = SpikingRecurrentActorCriticCnnPolicy
SpikingMultiInputRecurrentPolicy = SpikingRecurrentMultiInputActorCriticPolicy
