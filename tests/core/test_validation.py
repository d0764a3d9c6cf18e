"""Every bad input to explain() gets an error naming the argument, what was received and the fix."""

import numpy as np
import pytest
import scipy.sparse
import torch

from invert_core import atomic_auc, explain

GOOD_ACTIVATIONS = np.random.default_rng(0).normal(size=(20, 2))
GOOD_LABELS = np.random.default_rng(1).random((20, 3)) < 0.4
GOOD_CONCEPTS = ["a", "b", "c"]


def _explain(**overrides):
    arguments = dict(activations=GOOD_ACTIVATIONS, labels=GOOD_LABELS, concepts=GOOD_CONCEPTS)
    arguments.update(overrides)
    return explain(arguments.pop("activations"), arguments.pop("labels"), arguments.pop("concepts"), **arguments)


def _with(array, position, value):
    array = array.copy()
    array[position] = value
    return array


@pytest.mark.parametrize(
    "overrides, error, message",
    [
        ({"activations": _with(GOOD_ACTIVATIONS, (3, 1), np.nan)}, ValueError, r"NaN or infinite.*sample 3, neuron 1"),
        ({"activations": _with(GOOD_ACTIVATIONS, (0, 0), np.inf)}, ValueError, "NaN or infinite"),
        ({"activations": GOOD_ACTIVATIONS[:, 0]}, ValueError, r"shape \(n_samples, n_neurons\).*reshape"),
        ({"activations": "text"}, TypeError, "numpy array or a torch tensor"),
        ({"activations": np.array([["a", "b"]] * 20)}, TypeError, "real numbers"),
        ({"labels": GOOD_LABELS[:10]}, ValueError, r"n_samples=20.*got \(10, 3\)"),
        ({"labels": GOOD_LABELS.astype(int)}, TypeError, r"must be boolean.*astype\(bool\)"),
        ({"labels": scipy.sparse.csr_array(GOOD_LABELS.astype(np.float32))}, TypeError, "must be boolean"),
        ({"labels": torch.from_numpy(GOOD_LABELS.astype(np.int64))}, TypeError, r"labels.bool\(\)"),
        ({"labels": [[True]]}, TypeError, "boolean numpy array"),
        ({"concepts": ["a", "b"]}, ValueError, "has 2 names but `labels` has 3 columns"),
        ({"concepts": ["a", "b", "a"]}, ValueError, r"unique.*\['a'\]"),
        ({"concepts": ["a", "", "c"]}, ValueError, "non-empty strings"),
        ({"length": 0}, ValueError, "`length` must be an integer >= 1, got 0"),
        ({"length": 2.5}, TypeError, "`length` must be an integer"),
        ({"beam": 0}, ValueError, "`beam` must be an integer >= 1, got 0"),
        ({"min_fraction": 0.6, "max_fraction": 0.5}, ValueError, r"`min_fraction` \(0.6\) must not exceed"),
        ({"min_fraction": -0.1}, ValueError, r"`min_fraction` must be a number in \[0, 1\]"),
        ({"max_fraction": float("nan")}, ValueError, "`max_fraction` must be a number"),
        ({"mode": "both"}, ValueError, r"`mode` must be one of \('positive', 'negative'\), got 'both'"),
        ({"semantics": "fast"}, ValueError, r"`semantics` must be one of \('exact', 'reference'\)"),
        ({"limit_search": 0}, ValueError, "`limit_search` must be None"),
        ({"device": "tpu"}, ValueError, "`device` must be"),
        ({"memory_budget": 0}, ValueError, "`memory_budget` must be a positive"),
    ],
)
def test_invalid_input(overrides, error, message):
    """Each bad argument raises with a message naming it."""
    with pytest.raises(error, match=message):
        _explain(**overrides)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_unavailable_cuda_is_a_clear_error():
    """Asking for CUDA where there is none says so and suggests the CPU."""
    with pytest.raises(ValueError, match="CUDA is not available.*device='cpu'"):
        _explain(device="cuda")


@pytest.mark.parametrize(("gpu", "expected"), [(False, "cpu"), (True, "cuda")])
def test_auto_device_is_cuda_where_torch_sees_a_gpu(monkeypatch, gpu, expected):
    """device="auto" is cuda where torch sees a GPU, else cpu (never mps: the search counts in float64)."""
    from invert_core._validation import validate_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu)
    assert validate_device("auto") == torch.device(expected)


def test_auto_device_searches_here():
    """On this machine "auto" gives the table of "cpu"."""
    assert _explain(device="auto").equals(_explain(device="cpu"))


def test_atomic_auc_validates_too():
    """atomic_auc checks its inputs the same way."""
    with pytest.raises(ValueError, match="NaN or infinite"):
        atomic_auc(_with(GOOD_ACTIVATIONS, (0, 0), np.nan), GOOD_LABELS)
