"""
The spiking variants of the learning suite (``scripts/learning_suite.py``): each one a spiking run with more knobs,
another policy or another rl-zoo3 algorithm, named on the suite's command line (``--policies snn-soft``), with the
label and colour its reports give it.
"""

from dataclasses import dataclass, field
from typing import Any, Optional


@dataclass(frozen=True)
class Variant:
    """A variant of a task's spiking run: more knobs for the spiking policy, or another rl-zoo3 algorithm."""

    label: str
    policy_kwargs: dict[str, Any] = field(default_factory=dict)  # merged into the tuned entry's policy_kwargs
    algos: Optional[dict[str, str]] = None  # task algorithm -> the variant's rl-zoo3 algorithm (None: any, unchanged)
    mlp_only: bool = False  # only where the spiking policy is SpikingMlpPolicy
    policy: Optional[str] = None  # the policy instead of the task's spiking one ("{ALGO}": the algorithm, upper case)
    task_conf: bool = False  # the task's tuned file (rl-zoo3's or its own) although the algorithm differs


def _lab_dqn_candidate(what: str, policy: str) -> Variant:
    """A DQN candidate of ``lab/candidates.py`` on the first layer spread over +-3 std (SpikingMlpPolicy's tasks)."""
    label = f"SNN, thresholds spread over 3 std, {what}"
    return Variant(label, dict(input_span=3.0), algos={"dqn": "dqn"}, mlp_only=True, policy=f"lab.candidates.{policy}")


#: The actor-critic algorithms, each under its own name (a variant of their value function)
ACTOR_CRITIC = {"a2c": "a2c", "ppo": "ppo", "trpo": "trpo"}


def _lab_value_candidate(label: str, policy: str) -> Variant:
    """An actor-critic candidate of ``lab/candidates.py`` for the value function (SpikingMlpPolicy's tasks)."""
    return Variant(label, algos=ACTOR_CRITIC, mlp_only=True, policy=f"lab.candidates.{policy}")


def _lab_critic_candidate(label: str, prefix: str) -> Variant:
    """An off-policy candidate of ``lab/candidates.py`` for the critics: ``<prefix>Spiking<ALGO>Policy`` (SAC, TD3)."""
    policy = f"lab.candidates.{prefix}Spiking{{ALGO}}Policy"
    return Variant(label, algos={"sac": "sac", "td3": "td3"}, mlp_only=True, policy=policy)


VARIANTS: dict[str, Variant] = {
    "snn-pop": Variant("SNN, population encoder", dict(encoder="population"), mlp_only=True),
    # the population's receptive fields on the raw observation (over the space's bounds) instead of standardised inputs
    "snn-pop-raw": Variant("SNN, population encoder, raw inputs", dict(encoder="population", input_norm=False), mlp_only=True),
    # the observations as they come, no running standardisation before the first layer
    "snn-raw": Variant("SNN, raw inputs", dict(input_norm=False), mlp_only=True),
    "snn-proxy": Variant("SNN, proxy target", algos={"td3": "proxy_td3"}),
    "snn-t4": Variant("SNN, T=4", dict(T=4)),
    # twice the default simulation steps: each rate has 17 levels instead of 9 (T=4 was worse than T=8 on CartPole)
    "snn-t16": Variant("SNN, T=16", dict(T=16)),
    # the Q-values read from the mean membrane potential over the T steps instead of its maximum
    "snn-mean": Variant("SNN, mean-mem readout", dict(decoder="mean-mem")),
    # the standardised observations clipped (SB3's VecNormalize clips at 10), and the soft reset (subtract the threshold)
    "snn-clip3": Variant("SNN, inputs clipped at 3", dict(input_clip=3.0)),
    "snn-clip5": Variant("SNN, inputs clipped at 5", dict(input_clip=5.0)),
    "snn-clip10": Variant("SNN, inputs clipped at 10", dict(input_clip=10.0)),
    "snn-soft": Variant("SNN, soft reset", dict(reset="soft")),
    # the soft reset again, on the defaults that came after snn-soft's runs (the Q-networks' first two layers,
    # Q_NETWORK_KNOBS, and the actor-critic value function an ANN on standardised observations)
    "snn-soft2": Variant("SNN, soft reset (current defaults)", dict(reset="soft")),
    "snn-soft-clip3": Variant("SNN, soft reset, inputs clipped at 3", dict(reset="soft", input_clip=3.0)),
    # the population's receptive fields over the whole clipped range [-3, 3]
    "snn-pop-clip3": Variant(
        "SNN, population encoder, inputs clipped at 3", dict(encoder="population", input_clip=3.0), mlp_only=True
    ),
    # the first layer's thresholds spread over +-3 or +-6 standard deviations of the standardised inputs (zero biases put
    # them all within a quarter of one of the mean)
    "snn-span3": Variant("SNN, thresholds spread over 3 std", dict(input_span=3.0)),
    # half the first layer spread over +-3 std, the other half at the mean (fine codes near the mean, distances far out)
    "snn-span3-half": Variant("SNN, half the thresholds spread over 3 std", dict(input_span=3.0, input_spread=0.5)),
    # the Q-networks' defaults before Q_NETWORK_KNOBS: every first-layer threshold near the mean, the second layer as drawn
    "snn-span0": Variant(
        "SNN, thresholds at the mean (the earlier defaults)",
        dict(input_span=0.0, centre_second_layer=False),
        algos={"dqn": "dqn", "qrdqn": "qrdqn"},
        mlp_only=True,
    ),
    # the Q-networks' defaults (Q_NETWORK_KNOBS) on the other families: thresholds spread over +-3 std, second layer centred
    "snn-qknobs": Variant(
        "SNN, the Q-networks' first two layers",
        dict(input_span=3.0, centre_second_layer=True),
        algos={"a2c": "a2c", "ppo": "ppo", "sac": "sac", "td3": "td3"},
        mlp_only=True,
    ),
    # the actor-critic policies' earlier default: the value function spiking too
    "snn-spikingcritic": Variant(
        "SNN, spiking value function (the earlier default)",
        dict(spiking_critic=True),
        algos=ACTOR_CRITIC,
    ),
    # the actor spiking, the value function SB3's ANN on the raw observations (the off-policy policies' arrangement): the
    # actor-critic default before its value function standardised them (the same networks from the same seed)
    "snn-anncritic": _lab_value_candidate("SNN actor, ANN value function", "AnnCriticSpikingActorCriticPolicy"),
    # a lower firing threshold: the same network at initialisation (the weights are drawn on the threshold's scale, the
    # spikes are the same), smaller weights, so that each optimizer step (about the learning rate per weight under
    # Adam and RMSprop) changes them more, as it does an ANN's
    "snn-vth025": Variant("SNN, v_threshold=0.25", dict(v_threshold=0.25)),
    "snn-vth01": Variant("SNN, v_threshold=0.1", dict(v_threshold=0.1)),
    # a higher firing threshold: the same spikes at initialisation, larger weights, so that Adam's steps (about the
    # learning rate per weight) change them relatively less and the second layer's currents leave the neurons' graded
    # band (0 to T spikes) more slowly; DQN's updates drive it to 0 or T spikes on 99% of MountainCar's states within
    # 1,000 gradient steps at the default threshold (lab/q_saturation.md)
    "snn-vth4": Variant("SNN, v_threshold=4", dict(v_threshold=4.0)),
    "snn-vth16": Variant("SNN, v_threshold=16", dict(v_threshold=16.0)),
    # the ANN value function on the observations standardised as the actor's first layer reads them: the lab candidate
    # that became the actor-critic default (the same networks from the same seed, tests/test_lab_candidates.py)
    "snn-normcritic": _lab_value_candidate(
        "SNN actor, ANN value function on standardised observations", "NormCriticSpikingActorCriticPolicy"
    ),
    # the same for the off-policy algorithms, their ANN critics on the observations standardised as the actor reads them:
    # the lab candidate that became the off-policy default (the same networks from the same seed,
    # tests/test_lab_candidates.py), and the earlier default: the critics on the raw observations
    "snn-normq": _lab_critic_candidate("SNN actor, ANN critics on standardised observations", "NormCritic"),
    "snn-rawq": _lab_critic_candidate("SNN actor, ANN critics on raw observations (the earlier default)", "RawCritic"),
    "snn-span6": Variant("SNN, thresholds spread over 6 std", dict(input_span=6.0)),
    # PLIF neurons in every hidden layer: each layer learns its membrane time constant, starting from the package's tau
    "snn-plif": Variant("SNN, PLIF neurons (learned tau)", dict(neuron="plif")),
    # the first layer graded: thresholds spread over +-2 std, each neuron's rate climbing over about one std past its
    # threshold (input_gain=1) instead of a quarter of one (ramps that tile the standardised range, as ReLUs do)
    "snn-graded": Variant("SNN, graded first layer (span 2, gain 1)", dict(input_span=2.0, input_gain=1.0)),
    # thresholds spread over +-3 std, the second layer's biases cancelling the current of the first layer's expected rates
    # (to 0, or to the threshold): candidates of the lab, lab/candidates.py, DQN only
    "snn-span3-centred": _lab_dqn_candidate("second layer centred", "CentredSpikingDQNPolicy"),
    "snn-span3-centred1": _lab_dqn_candidate("second layer centred at the threshold", "ThresholdCentredSpikingDQNPolicy"),
    # the Q-values plus a linear map of the standardised observation (a direct, non-spiking path): the spiking Q-network
    # is piecewise constant in its input, and DQN's target for a transition whose two states get the same Q-values pins
    # them to r / (1 - gamma) (lab/q_saturation.md)
    "snn-direct": Variant(
        "SNN, direct linear path to the Q-values",
        algos={"dqn": "dqn"},
        mlp_only=True,
        policy="lab.candidates.DirectPathSpikingDQNPolicy",
    ),
    # the hidden currents after the first layer batch-normalised per neuron (scale and shift learned), so that DQN's
    # updates cannot drive them out of the band where a spike count is graded (lab/q_saturation.md)
    "snn-bn": Variant(
        "SNN, hidden currents batch-normalised",
        algos={"dqn": "dqn"},
        mlp_only=True,
        policy="lab.candidates.NormalisedSpikingDQNPolicy",
    ),
    # the stateful policy without recurrent synapses (each layer a low-pass filter and a threshold; before the knob existed,
    # the only stateful policy)
    "snn-norec": Variant("SNN, no recurrent synapses", dict(recurrent_synapses=False), algos={"ppo_lstm": "ppo_lstm"}),
    # the stateless spiking policy (T=8 from rest at every observation) under PPO, with the RecurrentPPO task's tuned entry
    "snn-stateless": Variant("SNN, stateless (PPO)", algos={"ppo_lstm": "ppo"}, policy="SpikingMlpPolicy", task_conf=True),
}
POLICIES = ("ann", "snn", *VARIANTS)
LABELS = {"ann": "ANN", "snn": "SNN", **{name: variant.label for name, variant in VARIANTS.items()}}
COLORS = {
    "ann": "tab:blue",
    "snn": "tab:orange",
    "snn-pop": "tab:green",
    "snn-pop-raw": "tab:olive",
    "snn-raw": "tab:brown",
    "snn-proxy": "tab:red",
    "snn-t4": "tab:purple",
    "snn-t16": "indigo",
    "snn-mean": "tab:pink",
    "snn-clip3": "tab:cyan",
    "snn-clip5": "tab:gray",
    "snn-clip10": "darkgreen",
    "snn-soft": "gold",
    "snn-soft2": "darkgoldenrod",
    "snn-soft-clip3": "navy",
    "snn-pop-clip3": "lime",
    "snn-stateless": "silver",
    "snn-direct": "darkred",
    "snn-bn": "cadetblue",
    "snn-vth4": "goldenrod",
    "snn-vth16": "mediumseagreen",
    "snn-norec": "peru",
    "snn-span3": "crimson",
    "snn-span0": "slategray",
    "snn-span3-half": "orchid",
    "snn-span6": "teal",
    "snn-qknobs": "darkorange",
    "snn-plif": "mediumpurple",
    "snn-vth025": "firebrick",
    "snn-vth01": "darkkhaki",
    "snn-normcritic": "darkcyan",
    "snn-normq": "deepskyblue",
    "snn-rawq": "sienna",
}
