"""
The spiking networks on every device this machine has: the CPU always, and CUDA where a GPU is present, where
SpikingJelly runs its own fused CUDA neuron kernels instead of ``sb3_spiking.snn.fused``.

Each device's result is compared with the float64 step-by-step simulation on the CPU (``tests/reference.py``).
The inputs and weights are dyadic (multiples of a power of two) and ``tau=2``, so every sum and every membrane
update is exact in float32 whatever the order of summation: spikes must match exactly, not within a tolerance.
"""

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from reference import neuron_step, reference_q_values
from stable_baselines3 import DQN, PPO, SAC, TD3

from sb3_spiking import ProxyTargetTD3
from sb3_spiking.policies import SpikingDQNPolicy
from sb3_spiking.snn import DECODERS, NEURONS, SpikingConfig

DEVICES = ["cpu"] + (["cuda"] if th.cuda.is_available() else [])


def dyadic(tensor: th.Tensor, step: float) -> th.Tensor:
    return th.round(tensor / step) * step


@pytest.mark.parametrize("neuron", NEURONS)
@pytest.mark.parametrize("device", DEVICES)
def test_neuron_layer_on_device(device, neuron):
    node = SpikingConfig(T=8, neuron=neuron, tau=2.0).make_neuron().to(device)
    generator = th.Generator().manual_seed(1)
    x_cpu = dyadic(th.randn(8, 32, 16, generator=generator) * 1.5 + 0.5, 1 / 8)
    x = x_cpu.to(device, copy=True).requires_grad_(True)
    spikes = node(x)
    node.reset()
    (spikes * th.arange(8.0, device=device).view(8, 1, 1)).sum().backward()
    # the step-by-step reference on the CPU, float64
    x_ref = x_cpu.double().requires_grad_(True)
    ref_node = SpikingConfig(T=8, neuron=neuron, tau=2.0).make_neuron().double()
    ref_spikes, v = [], None
    for x_t in x_ref:
        spike, v = neuron_step(ref_node, x_t, v)
        ref_spikes.append(spike)
    ref_spikes = th.stack(ref_spikes)
    (ref_spikes * th.arange(8.0, dtype=th.float64).view(8, 1, 1)).sum().backward()
    assert 0.1 < ref_spikes.mean().item() < 0.9, "some neurons should fire and some not"
    assert spikes.device.type == device and spikes.dtype == th.float32
    assert th.equal(spikes.cpu().double(), ref_spikes.detach())
    th.testing.assert_close(x.grad.cpu().double(), x_ref.grad, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("device", DEVICES)
def test_q_network_on_device(device, decoder):
    observation_space = spaces.Box(-3, 3, (4,), np.float32)
    policy = SpikingDQNPolicy(
        observation_space, spaces.Discrete(3), lambda _: 1e-3, T=8, tau=2.0, decoder=decoder, input_norm=False
    )
    with th.no_grad():
        for param in policy.parameters():
            param.copy_(dyadic(param * 4.0, 1 / 16))  # weights large enough to fire, exact in float32
    policy.set_training_mode(False)
    obs = dyadic(th.as_tensor(np.stack([observation_space.sample() for _ in range(16)])), 1 / 8)
    reference = reference_q_values(policy.q_net.double(), obs.double())
    policy.float().to(device)
    q_values = policy.q_net(obs.to(device))
    assert q_values.device.type == device
    th.testing.assert_close(q_values.detach().cpu().double(), reference.detach(), rtol=1e-5, atol=1e-5)
    assert reference.std(0).min() > 0, "the Q-values should depend on the observation"


@pytest.mark.parametrize(
    "algo, env_id, kwargs",
    [
        (DQN, "CartPole-v1", dict(learning_starts=64, batch_size=32)),
        (PPO, "CartPole-v1", dict(n_steps=128, batch_size=32, n_epochs=1)),
        (SAC, "Pendulum-v1", dict(learning_starts=64, batch_size=32)),
        (TD3, "Pendulum-v1", dict(learning_starts=64, batch_size=32)),
        (ProxyTargetTD3, "Pendulum-v1", dict(learning_starts=64, batch_size=32)),
    ],
)
@pytest.mark.parametrize("device", DEVICES)
def test_train_save_load_on_device(tmp_path, device, algo, env_id, kwargs):
    model = algo("SpikingMlpPolicy", env_id, device=device, seed=0, **kwargs)
    model.learn(256)
    assert {p.device.type for p in model.policy.parameters()} == {device}
    model.save(tmp_path / "model")
    loaded = algo.load(tmp_path / "model", device="cpu")
    saved = {k: v.cpu() for k, v in model.policy.state_dict().items()}
    restored = loaded.policy.state_dict()
    assert saved.keys() == restored.keys()
    for name, value in saved.items():
        assert th.equal(value, restored[name]), name
    obs = np.stack([model.observation_space.sample() for _ in range(8)])
    actions, _ = loaded.predict(obs, deterministic=True)
    assert actions.shape[0] == 8 and np.isfinite(actions).all()
