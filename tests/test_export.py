"""NIR export round trip by value, and TorchScript / ONNX deployment of the deterministic action function."""

import subprocess
import sys

import nir
import numpy as np
import onnxruntime
import pytest
import torch as th
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.envs import FakeImageEnv
from stable_baselines3.common.preprocessing import preprocess_obs

import sb3_spiking  # noqa: F401
from sb3_spiking.export import NIR_EXPRESSIBLE_DECODERS, nir_readout, run_nir, to_nir, to_onnx, to_torchscript
from sb3_spiking.snn import RunningNorm

DECODERS = ("last-mem", "max-mem", "max-abs-mem", "mean-mem", "fr-mlp")


def amplify(module: th.nn.Module, gain: float = 8.0) -> None:
    """Untrained spiking layers hardly fire: drive them harder, so that the comparisons see spikes."""
    with th.no_grad():
        for layer in module.modules():
            if isinstance(layer, th.nn.Linear):
                layer.weight.mul_(gain)


def with_statistics(model):
    """Observation statistics away from the identity (as after training), so that exports must carry them."""
    generator = th.Generator().manual_seed(1)
    norms = [m for m in model.policy.modules() if isinstance(m, RunningNorm)]
    with th.no_grad():
        for norm in norms:
            norm.running_mean.normal_(0.0, 0.3, generator=generator)
            norm.running_var.uniform_(0.25, 2.0, generator=generator)
            norm.running_count.fill_(100)
    model.policy.set_training_mode(False)
    return norms


def observations(model, n: int = 64, scale: float = 1.0) -> np.ndarray:
    return np.stack([model.observation_space.sample() for _ in range(n)]) * scale


def preprocessed(model, obs: np.ndarray) -> th.Tensor:
    policy = model.policy
    x = preprocess_obs(policy.obs_to_tensor(obs)[0], policy.observation_space, policy.normalize_images)
    return x.float()


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("neuron", ["if", "lif", "plif"])
def test_nir_round_trip_dqn(tmp_path, decoder, neuron):
    kwargs = dict(T=6, neuron=neuron, tau=3.0, decoder=decoder, decoder_tau=1.5, net_arch=[32, 16])
    model = DQN("SpikingMlpPolicy", "CartPole-v1", policy_kwargs=kwargs, seed=0)
    assert len(with_statistics(model)) == 2  # online and target networks
    amplify(model.policy.q_net.q_net[:-1])
    obs = observations(model, scale=0.5)
    path = tmp_path / "q.nir"
    to_nir(model.policy, path)
    graph = nir.read(str(path))
    x = preprocessed(model, obs)
    with th.no_grad():
        expected = model.policy.q_net(x)
        rates = [float(model.policy.q_net.q_net[:end](x).mean()) for end in (4, 6)]
    assert all(0.03 < rate < 0.97 for rate in rates), rates  # the comparison is not between silent networks
    np.testing.assert_allclose(nir_readout(graph, x).numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
    kinds = [type(node).__name__ for node in graph.nodes.values()]
    assert kinds.count({"if": "IF"}.get(neuron, "LIF")) == 2
    assert kinds.count("Affine") == 4  # normalisation, two hidden layers, readout
    assert ("LI" in kinds) == (decoder != "fr-mlp")
    assert ("I" in kinds) == (decoder in ("mean-mem", "fr-mlp"))
    assert graph.metadata["readout"] == ("last" if decoder in NIR_EXPRESSIBLE_DECODERS else decoder[:-4])
    assert int(graph.metadata["T"]) == 6


def test_nir_lif_parameters_follow_continuous_time_convention():
    model = DQN("SpikingMlpPolicy", "CartPole-v1", policy_kwargs=dict(T=4, tau=4.0, decoder_tau=2.5), seed=0)
    with_statistics(model)
    graph = to_nir(model.policy, dt=1e-3)
    lif = next(node for node in graph.nodes.values() if isinstance(node, nir.LIF))
    li = next(node for node in graph.nodes.values() if isinstance(node, nir.LI))
    np.testing.assert_allclose(lif.tau, 4.0e-3)
    np.testing.assert_allclose(li.tau, 2.5e-3)
    assert np.all(lif.r == 1.0) and np.all(lif.v_leak == 0.0) and np.all(lif.v_threshold == 1.0)
    # Only tau / dt matters: graphs written with two time steps simulate to the same potentials (T steps, batch,
    # actions); the same graph run with a ten times shorter step is another network (its neurons leak less per step)
    amplify(model.policy.q_net.q_net[:-1])
    graph = to_nir(model.policy, dt=1e-3)
    x = preprocessed(model, observations(model, scale=0.5))
    potentials = run_nir(graph, x)
    assert potentials.shape == (4, 64, 2)
    np.testing.assert_allclose(potentials.numpy(), run_nir(to_nir(model.policy), x).numpy(), rtol=1e-5, atol=1e-6)
    assert not th.allclose(run_nir(graph, x, dt=1e-4), potentials, atol=1e-3)


def test_nir_round_trip_actor_critic_and_cnn():
    model = PPO("SpikingMlpPolicy", "CartPole-v1", policy_kwargs=dict(T=5), seed=0)
    with_statistics(model)
    x = preprocessed(model, observations(model, scale=0.5))
    with th.no_grad():
        expected = model.policy.action_net(model.policy.mlp_extractor.forward_actor(x))
    np.testing.assert_allclose(nir_readout(to_nir(model.policy), x).numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)

    env = FakeImageEnv(screen_height=40, screen_width=40, n_channels=1, discrete=True)
    model = DQN(
        "SpikingCnnPolicy", env, buffer_size=10, policy_kwargs=dict(T=3, features_extractor_kwargs=dict(features_dim=16))
    )
    amplify(model.policy.q_net)
    obs = observations(model, n=4)
    x = preprocessed(model, obs)  # the graph's input: images scaled to [0, 1]
    graph = to_nir(model.policy)
    assert {"Conv2d", "Flatten"} <= {type(node).__name__ for node in graph.nodes.values()}
    with th.no_grad():
        expected = model.policy.q_net(model.policy.obs_to_tensor(obs)[0])  # the Q-network scales them itself
    assert len(th.unique(expected[:, 0])) == 4  # the observations are told apart: the network spikes
    np.testing.assert_allclose(nir_readout(graph, x).numpy(), expected.numpy(), rtol=1e-4, atol=1e-5)


def test_nir_rejects_what_it_cannot_express():
    model = PPO("MlpPolicy", "CartPole-v1")
    with pytest.raises(ValueError, match="Cannot export"):
        to_nir(model.policy)
    model = DQN("SpikingMlpPolicy", "CartPole-v1")
    with pytest.raises(ValueError, match="dt"):
        to_nir(model.policy, dt=0.0)
    with pytest.raises(ValueError, match="soft reset"):
        to_nir(DQN("SpikingMlpPolicy", "CartPole-v1", policy_kwargs=dict(reset="soft")).policy)
    with pytest.raises(ValueError, match="input_clip"):
        to_nir(DQN("SpikingMlpPolicy", "CartPole-v1", policy_kwargs=dict(input_clip=5.0)).policy)


@pytest.mark.parametrize(
    "algo, env, kwargs",
    [
        (DQN, "CartPole-v1", dict(decoder="max-mem", neuron="if")),
        (PPO, "CartPole-v1", dict(neuron="plif")),
        (PPO, "Pendulum-v1", dict(decoder="mean-mem")),
        (DQN, "CartPole-v1", dict(reset="soft", input_clip=1.0)),
        (PPO, "Pendulum-v1", dict(reset="soft", neuron="lif")),
    ],
)
def test_torchscript_and_onnx_match_predict(tmp_path, algo, env, kwargs):
    model = algo("SpikingMlpPolicy", env, policy_kwargs=dict(T=5, **kwargs), seed=0)
    with_statistics(model)
    amplify(model.policy)
    obs = observations(model, n=50, scale=0.5).astype(np.float32)
    expected, _ = model.predict(obs, deterministic=True)
    to_torchscript(model.policy, tmp_path / "actor.pt")
    scripted = th.jit.load(str(tmp_path / "actor.pt"))
    with th.no_grad():
        actions = scripted(th.as_tensor(obs)).numpy()
    to_onnx(model.policy, tmp_path / "actor.onnx")
    session = onnxruntime.InferenceSession(str(tmp_path / "actor.onnx"))
    onnx_actions = session.run(None, {"observations": obs})[0]
    if isinstance(expected[0], np.integer):
        np.testing.assert_array_equal(actions, expected)
        np.testing.assert_array_equal(onnx_actions, expected)
    else:
        assert len(np.unique(expected)) > 2  # not all clipped to a bound
        np.testing.assert_allclose(actions, expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(onnx_actions, expected, rtol=1e-5, atol=1e-5)


def test_torchscript_runs_without_sb3_or_spikingjelly(tmp_path):
    model = DQN("SpikingMlpPolicy", "CartPole-v1", policy_kwargs=dict(T=4), seed=0)
    with_statistics(model)
    obs = observations(model, n=8, scale=0.5).astype(np.float32)
    to_torchscript(model.policy, tmp_path / "actor.pt")
    code = (
        "import sys, torch\n"
        f"actor = torch.jit.load({str(tmp_path / 'actor.pt')!r})\n"
        f"print(actor(torch.tensor({obs.tolist()!r})).tolist())\n"
        "assert 'spikingjelly' not in sys.modules and 'stable_baselines3' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert eval(result.stdout) == model.predict(obs, deterministic=True)[0].tolist()


def test_torchscript_export_without_nir(tmp_path):
    # A process in which `nir` cannot be imported: TorchScript export works, to_nir names the extra to install
    code = f"""
import importlib.abc, sys

class NoNir(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "nir" or name.startswith("nir."):
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)

sys.meta_path.insert(0, NoNir())
from stable_baselines3 import DQN
from sb3_spiking import export

model = DQN("SpikingMlpPolicy", "CartPole-v1", policy_kwargs=dict(T=4), seed=0)
export.to_torchscript(model.policy, {str(tmp_path / "actor.pt")!r})
print("torchscript ok")
try:
    export.to_nir(model.policy)
except ImportError as error:
    print("ImportError:", error)
assert "nir" not in sys.modules
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines()[0] == "torchscript ok" and (tmp_path / "actor.pt").stat().st_size > 0
    error = result.stdout.splitlines()[1]
    assert error.startswith("ImportError: sb3_spiking.export.to_nir needs the optional package 'nir'")
    assert 'pip install "sb3-spiking[extra]"' in error
