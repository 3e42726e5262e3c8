"""The real-valued outputs of a trained model, for comparing two copies of it (imports only torch)."""

import numpy as np
import torch as th


def model_outputs(model, obs: np.ndarray) -> np.ndarray:
    """Quantiles, Q-values, Gaussian means or deterministic actions of ``model`` on a batch of observations, flat."""
    with th.no_grad():
        obs_tensor = model.policy.obs_to_tensor(obs)[0]
        if hasattr(model, "quantile_net"):
            outputs = model.quantile_net(obs_tensor)
        elif hasattr(model, "q_net"):
            outputs = model.q_net(obs_tensor)
        elif hasattr(model, "actor"):
            outputs = model.policy._predict(obs_tensor, deterministic=True)  # SAC / TD3: the deterministic action
        else:
            outputs = model.policy.get_distribution(obs_tensor).distribution.mean
    return outputs.flatten().numpy()
