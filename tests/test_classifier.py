import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch as th

from sb3_spiking.demos.classifier import NotFittedError, SpikingClassifier, main, make_toy_data


@pytest.fixture(scope="module")
def toy_classifier():
    X, y = make_toy_data(1000, seed=0)
    return SpikingClassifier(random_state=0).fit(X, y)


def blobs(n_per_class=60, seed=0):
    """Three well separated Gaussian blobs in 3-D with string labels."""
    rng = np.random.default_rng(seed)
    centers = np.array([[3.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 3.0]])
    X = np.concatenate([center + 0.5 * rng.standard_normal((n_per_class, 3)) for center in centers])
    y = np.repeat(np.array(["cat", "dog", "eel"]), n_per_class)
    return X, y


def test_toy_data_labels():
    X, y = make_toy_data(500, seed=3)
    assert X.shape == (500, 2) and X.dtype == np.float32
    np.testing.assert_array_equal(y, (X[:, 0] + X[:, 1] > 0).astype(int))
    assert 0.4 < y.mean() < 0.6
    np.testing.assert_array_equal(make_toy_data(10, seed=1)[0], make_toy_data(10, seed=1)[0])


def test_toy_task_accuracy(toy_classifier):
    # A classifier whose hidden layer gets no gradient (only the output layer learns) stays near 91%
    X_test, y_test = make_toy_data(1000, seed=12345)
    assert toy_classifier.score(X_test, y_test) >= 0.98
    history = toy_classifier.history_
    assert [record["epoch"] for record in history] == list(range(1, 21))
    assert history[-1]["loss"] < history[0]["loss"] / 2
    assert history[-1]["accuracy"] >= 0.97


def test_hidden_layer_learns():
    # Surrogate gradients reach the encoder in front of the spiking layer
    X, y = make_toy_data(200, seed=0)
    th.manual_seed(0)
    classifier = SpikingClassifier(epochs=1, random_state=0)
    classifier.fit(X, y)
    trained = classifier.network_[0].weight.detach().clone()
    untrained = SpikingClassifier(epochs=1, learning_rate=1e-12, random_state=0).fit(X, y).network_[0].weight
    assert not th.allclose(trained, untrained, atol=1e-4)


def test_multiclass_api():
    X, y = blobs()
    classifier = SpikingClassifier(hidden_sizes=(32,), epochs=10, batch_size=30, random_state=1)
    assert classifier.fit(X, y) is classifier
    np.testing.assert_array_equal(classifier.classes_, ["cat", "dog", "eel"])
    assert classifier.n_features_in_ == 3
    X_test, y_test = blobs(20, seed=1)
    proba = classifier.predict_proba(X_test)
    assert proba.shape == (60, 3)
    assert np.all(proba >= 0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    predicted = classifier.predict(X_test)
    assert set(predicted) <= {"cat", "dog", "eel"}
    np.testing.assert_array_equal(predicted, classifier.classes_[proba.argmax(axis=1)])
    assert classifier.score(X_test, y_test) == pytest.approx(np.mean(predicted == y_test))
    assert classifier.score(X_test, y_test) >= 0.95
    # Stateless: the same input gives the same output, whatever else is in the batch
    np.testing.assert_array_equal(classifier.predict_proba(X_test), proba)
    np.testing.assert_allclose(classifier.predict_proba(X_test[:1]), proba[:1], rtol=1e-5, atol=1e-6)


def test_reproducible_with_random_state():
    X, y = make_toy_data(200, seed=0)
    first = SpikingClassifier(epochs=2, random_state=7).fit(X, y).decision_function(X)
    second = SpikingClassifier(epochs=2, random_state=7).fit(X, y).decision_function(X)
    np.testing.assert_array_equal(first, second)


def test_input_validation():
    X, y = make_toy_data(50, seed=0)
    classifier = SpikingClassifier(epochs=1)
    with pytest.raises(NotFittedError, match="fit"):
        classifier.predict(X)
    with pytest.raises(ValueError, match="two classes"):
        classifier.fit(X, np.zeros(50))
    with pytest.raises(ValueError, match="one label per row"):
        classifier.fit(X, y[:-1])
    with pytest.raises(ValueError, match="2-D"):
        classifier.fit(X[:, 0], y)
    with pytest.raises(ValueError, match="NaN"):
        classifier.fit(np.full((50, 2), np.nan), y)
    with pytest.raises(ValueError, match="'if', 'lif', 'plif'"):
        SpikingClassifier(neuron="relu").fit(X, y)
    with pytest.raises(ValueError, match="epochs"):
        SpikingClassifier(epochs=0).fit(X, y)
    classifier.fit(X, y)
    with pytest.raises(ValueError, match="fitted with 2 features"):
        classifier.predict(np.zeros((3, 5)))


def test_get_set_params():
    classifier = SpikingClassifier(T=4)
    params = classifier.get_params()
    assert params["T"] == 4 and params["decoder"] == "max-mem"
    assert classifier.set_params(T=6, neuron="if", epochs=3) is classifier
    assert classifier.spiking.T == 6 and classifier.spiking.neuron == "if" and classifier.epochs == 3
    assert classifier.get_params()["neuron"] == "if"
    with pytest.raises(ValueError, match="valid parameters"):
        classifier.set_params(depth=3)
    with pytest.raises(ValueError, match="valid choices"):
        classifier.set_params(neuron="hh")
    with pytest.raises(ValueError, match="valid knobs are T, neuron"):
        SpikingClassifier(Tee=4)


def test_command_line(tmp_path, capsys):
    accuracy = main(["--train-size", "200", "--test-size", "100", "--epochs", "2", "--out", str(tmp_path / "new")])
    out = capsys.readouterr().out
    assert "Epoch 1/2, loss:" in out and "Epoch 2/2" in out
    assert f"Test accuracy on 100 fresh points: {accuracy:.4f}" in out
    assert (tmp_path / "new" / "classifier_toy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_module_outside_the_repository(tmp_path):
    # Run from another folder: the picture lands in the current directory, nothing of the repository is written
    docs = Path(__file__).resolve().parents[1] / "docs" / "results" / "classifier_toy.png"
    before = docs.stat().st_mtime_ns
    command = [sys.executable, "-m", "sb3_spiking.demos.classifier", "--train-size", "100", "--test-size", "50"]
    result = subprocess.run([*command, "--epochs", "1"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Saved ./classifier_toy.png" in result.stdout
    assert (tmp_path / "classifier_toy.png").read_bytes()[:4] == b"\x89PNG"
    assert docs.stat().st_mtime_ns == before
