"""
A standalone spiking classifier for tabular data, with an estimator API in scikit-learn's style.

The network is the one the spiking policies use: a linear encoder computed once per sample, spiking hidden layers
(SpikingJelly neurons trained with a surrogate gradient) simulated for ``T`` steps, and a non-spiking readout
whose decoded membrane potentials are the class logits. Every forward pass starts from rest, so the network is an
ordinary function of its input. scikit-learn is not needed.

Run ``python -m sb3_spiking.demos.classifier`` to train it on the toy task of points ``x ~ N(0, I)`` in 2-D labelled
``x0 + x1 > 0``, print the loss and accuracy of every epoch and save a picture of the test predictions (``--out``: its
folder, by default the current directory).
"""

import argparse
import inspect
import os
from typing import Any, Optional

import numpy as np
import torch as th
from torch import nn
from torch.nn import functional as F

from sb3_spiking.snn import SpikingConfig, spiking_head


class NotFittedError(ValueError, AttributeError):
    """Raised when a classifier is used before ``fit`` (a ``ValueError``, as in scikit-learn)."""


def make_toy_data(n_samples: int, seed: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
    """
    The toy task: points ``x ~ N(0, I)`` in 2-D, labelled 1 where ``x0 + x1 > 0`` and 0 elsewhere.

    :param n_samples: Number of points
    :param seed: Seed of the random generator
    :return: ``X`` (float32, ``[n_samples, 2]``) and ``y`` (int64, ``[n_samples]``)
    """
    x = np.random.default_rng(seed).standard_normal((n_samples, 2)).astype(np.float32)
    return x, (x[:, 0] + x[:, 1] > 0).astype(np.int64)


def _check_X(X: Any, n_features: Optional[int] = None) -> np.ndarray:
    try:
        array = np.asarray(X, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise ValueError(f"X must be a 2-D array of numbers [n_samples, n_features]: {error}") from error
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"X must be a non-empty 2-D array [n_samples, n_features], got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError("X contains NaN or infinite values: impute or drop them before fitting or predicting")
    if n_features is not None and array.shape[1] != n_features:
        raise ValueError(f"X has {array.shape[1]} features, but the classifier was fitted with {n_features} features")
    return array


class SpikingClassifier:
    """
    Spiking-neural-network classifier for binary or multi-class tabular data.

    Features are standardized with the training set's mean and standard deviation, encoded by a linear layer
    into a constant current for ``T`` steps, passed through spiking hidden layers and read out by non-spiking
    neurons whose decoded membrane potentials are the class logits; training minimizes the cross-entropy with Adam.

    :param hidden_sizes: Sizes of the spiking hidden layers
    :param learning_rate: Adam's learning rate
    :param epochs: Number of passes over the training data
    :param batch_size: Minibatch size
    :param random_state: Seed of the weight initialisation and of the minibatch order (None: not seeded)
    :param verbose: 1 prints the loss and accuracy of every epoch
    :param spiking_kwargs: The spiking knobs of :class:`~sb3_spiking.snn.config.SpikingConfig` (``T``, ``neuron``,
        ``tau``, ``decoder``...), validated here; they are parameters of ``get_params`` / ``set_params`` too
    """

    def __init__(
        self,
        hidden_sizes: tuple[int, ...] = (64,),
        learning_rate: float = 1e-2,
        epochs: int = 20,
        batch_size: int = 100,
        random_state: Optional[int] = None,
        verbose: int = 0,
        **spiking_kwargs: Any,
    ) -> None:
        self.hidden_sizes = hidden_sizes
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.random_state = random_state
        self.verbose = verbose
        self.spiking = SpikingConfig.from_kwargs(spiking_kwargs)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's parameters, spiking knobs included, as scikit-learn's ``get_params``."""
        names = [name for name in inspect.signature(type(self).__init__).parameters if name not in ("self", "spiking_kwargs")]
        return {**{name: getattr(self, name) for name in names}, **self.spiking.to_kwargs()}

    def set_params(self, **params: Any) -> "SpikingClassifier":
        """Set constructor parameters (they take effect at the next ``fit``; spiking knobs are validated at once)."""
        valid = self.get_params()
        for name in params:
            if name not in valid:
                raise ValueError(f"Unknown parameter {name!r}: valid parameters are {', '.join(valid)}")
        knobs = {name: params.pop(name) for name in list(params) if name in SpikingConfig.knobs()}
        self.spiking = self.spiking.replace(**knobs)
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def _validate_params(self) -> SpikingConfig:
        if not self.hidden_sizes or any(int(size) < 1 for size in self.hidden_sizes):
            raise ValueError(f"hidden_sizes must be a non-empty sequence of positive sizes, got {self.hidden_sizes!r}")
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not float(self.learning_rate) > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        return self.spiking

    def fit(self, X: Any, y: Any) -> "SpikingClassifier":
        """
        Train a new network on ``(X, y)``; the per-epoch loss and accuracy are kept in ``history_``.

        :param X: Features ``[n_samples, n_features]``
        :param y: Labels ``[n_samples]`` (any values that ``np.unique`` can sort), at least two classes
        :return: The fitted classifier
        """
        spiking = self._validate_params()
        X = _check_X(X)
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise ValueError(f"y must be a 1-D array with one label per row of X ({X.shape[0]}), got shape {y.shape}")
        self.classes_, targets = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"y must contain at least two classes to fit a classifier, got only {self.classes_!r}")
        self.n_features_in_ = X.shape[1]
        self.mean_ = X.mean(axis=0)
        self.scale_ = np.where(X.std(axis=0) > 0, X.std(axis=0), 1.0).astype(np.float32)

        generator = th.Generator().manual_seed(self.random_state) if self.random_state is not None else None
        if self.random_state is not None:
            th.manual_seed(self.random_state)
        self.network_ = spiking_head(self.n_features_in_, len(self.classes_), [int(s) for s in self.hidden_sizes], spiking)
        optimizer = th.optim.Adam(self.network_.parameters(), lr=float(self.learning_rate))
        inputs = th.as_tensor(self._standardize(X))
        labels = th.as_tensor(targets.reshape(-1), dtype=th.long)
        self.history_: list[dict[str, float]] = []
        for epoch in range(1, self.epochs + 1):
            self.network_.train()
            order = th.randperm(len(inputs), generator=generator)
            total_loss, correct = 0.0, 0
            for start in range(0, len(inputs), self.batch_size):
                batch = order[start : start + self.batch_size]
                logits = self.network_(inputs[batch])
                loss = F.cross_entropy(logits, labels[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total_loss += loss.item() * len(batch)
                correct += int((logits.argmax(dim=1) == labels[batch]).sum())
            record = {"epoch": epoch, "loss": total_loss / len(inputs), "accuracy": correct / len(inputs)}
            self.history_.append(record)
            if self.verbose:
                print(f"Epoch {epoch}/{self.epochs}, loss: {record['loss']:.4f}, accuracy: {record['accuracy']:.4f}")
        self.network_.eval()
        return self

    def _standardize(self, X: np.ndarray) -> np.ndarray:
        return (X - self.mean_) / self.scale_

    def _check_fitted(self) -> None:
        if not hasattr(self, "network_"):
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet: call fit(X, y) before using it")

    def decision_function(self, X: Any) -> np.ndarray:
        """
        :param X: Features ``[n_samples, n_features]``
        :return: The class logits (decoded membrane potentials of the output neurons), ``[n_samples, n_classes]``
        """
        self._check_fitted()
        X = _check_X(X, self.n_features_in_)
        with th.no_grad():
            return self.network_(th.as_tensor(self._standardize(X))).numpy()

    def predict_proba(self, X: Any) -> np.ndarray:
        """
        :param X: Features ``[n_samples, n_features]``
        :return: Class probabilities ``[n_samples, n_classes]`` (columns in the order of ``classes_``)
        """
        return th.softmax(th.as_tensor(self.decision_function(X)), dim=1).numpy()

    def predict(self, X: Any) -> np.ndarray:
        """
        :param X: Features ``[n_samples, n_features]``
        :return: Predicted labels ``[n_samples]``, values of ``classes_``
        """
        scores = self.decision_function(X)
        return self.classes_[scores.argmax(axis=1)]

    def score(self, X: Any, y: Any) -> float:
        """
        :param X: Features ``[n_samples, n_features]``
        :param y: True labels ``[n_samples]``
        :return: Accuracy, the fraction of correctly predicted labels
        """
        y = np.asarray(y)
        predicted = self.predict(X)
        if y.shape != predicted.shape:
            raise ValueError(f"y must be a 1-D array with one label per row of X ({len(predicted)}), got shape {y.shape}")
        return float(np.mean(predicted == y))

    @property
    def network(self) -> nn.Module:
        """The fitted torch module: ``[B, n_features]`` standardized inputs in, ``[B, n_classes]`` logits out."""
        self._check_fitted()
        return self.network_


def plot_predictions(X: np.ndarray, y: np.ndarray, predicted: np.ndarray, path: str, title: str) -> None:
    """
    Save the picture of the toy task: test points coloured by true label, each marked with a cross coloured by its
    predicted label, mistakes circled, and the true boundary ``x0 + x1 = 0``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 6))
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="cool", s=30, alpha=0.5, label="test point (colour: true label)")
    ax.scatter(X[:, 0], X[:, 1], c=predicted, cmap="cool", marker="x", s=14, label="prediction (colour: predicted label)")
    wrong = predicted != y
    ax.scatter(X[wrong, 0], X[wrong, 1], facecolors="none", edgecolors="red", s=120, label=f"mistakes ({wrong.sum()})")
    limit = float(np.abs(X).max())
    ax.plot([-limit, limit], [limit, -limit], "k--", linewidth=1, label="true boundary x0 + x1 = 0")
    ax.set(xlabel="x0", ylabel="x1", title=title, xlim=(-limit, limit), ylim=(-limit, limit))
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: Optional[list[str]] = None) -> float:
    parser = argparse.ArgumentParser(
        description="Train the spiking classifier on the toy task x0 + x1 > 0 (points x ~ N(0, I) in 2-D)."
    )
    parser.add_argument("--train-size", type=int, default=1000, help="number of training points")
    parser.add_argument("--test-size", type=int, default=1000, help="number of fresh test points")
    parser.add_argument("--epochs", type=int, default=20, help="passes over the training points")
    parser.add_argument("--T", type=int, default=8, help="simulation time steps per point")
    parser.add_argument("--neuron", default="lif", help="hidden neuron model: if, lif or plif")
    parser.add_argument("--decoder", default="max-mem", help="readout of the non-spiking output neurons")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and of the network")
    parser.add_argument("--out", default=".", help="folder for the picture classifier_toy.png (created if missing)")
    parser.add_argument("--no-plot", action="store_true", help="do not draw the picture")
    args = parser.parse_args(argv)

    X_train, y_train = make_toy_data(args.train_size, seed=args.seed)
    X_test, y_test = make_toy_data(args.test_size, seed=args.seed + 1)
    classifier = SpikingClassifier(T=args.T, neuron=args.neuron, decoder=args.decoder, epochs=args.epochs)
    classifier.set_params(random_state=args.seed, verbose=1).fit(X_train, y_train)
    accuracy = classifier.score(X_test, y_test)
    print(f"Test accuracy on {args.test_size} fresh points: {accuracy:.4f}")
    if not args.no_plot:
        path = os.path.join(args.out, "classifier_toy.png")
        os.makedirs(args.out, exist_ok=True)
        title = f"Spiking classifier ({args.neuron.upper()}, T={args.T}): test accuracy {accuracy:.1%}"
        plot_predictions(X_test, y_test, classifier.predict(X_test), path, title)
        print(f"Saved {path}")
    return accuracy


if __name__ == "__main__":
    main()
