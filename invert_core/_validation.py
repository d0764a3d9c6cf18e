"""Input validation for the public functions: one place that checks and converts, so the rest trusts.

Every message names the argument, says what was received and what is allowed, and how to fix it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import scipy.sparse
import torch

from invert_core.parameters import DEFAULT_MIN_GAIN, PARAMETERS



def validate_device(device: str | torch.device) -> torch.device:
    """A torch device that exists here; ``"auto"``: cuda where torch sees a GPU, else cpu (the search counts in
    float64, which mps lacks)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"`device` must be 'auto', 'cpu' or 'cuda' (optionally 'cuda:N'), got {device!r}") from error
    if resolved.type == "cpu":
        return resolved
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"`device` is {device!r} but CUDA is not available on this machine; use device='cpu'")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ValueError(
                f"`device` is {device!r} but only {torch.cuda.device_count()} CUDA device(s) exist; "
                f"use cuda:0 .. cuda:{torch.cuda.device_count() - 1}"
            )
        return resolved
    raise ValueError(f"`device` must be 'auto', 'cpu' or 'cuda', got {device!r}")


def validate_activations(activations) -> torch.Tensor:
    """A 2-D, finite, real tensor of shape (n_samples, n_neurons) on the CPU (values unchanged)."""
    if isinstance(activations, torch.Tensor):
        tensor = activations.detach()
    elif isinstance(activations, np.ndarray) or isinstance(activations, (list, tuple)):
        array = np.asarray(activations)
        if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
            raise TypeError(
                f"`activations` must hold real numbers, got dtype {array.dtype}; convert with .astype(np.float32)"
            )
        tensor = torch.from_numpy(np.ascontiguousarray(array))
    else:
        raise TypeError(
            f"`activations` must be a numpy array or a torch tensor of shape (n_samples, n_neurons), "
            f"got {type(activations).__name__}"
        )
    if tensor.is_complex() or tensor.dtype == torch.bool:
        raise TypeError(f"`activations` must hold real numbers, got dtype {tensor.dtype}; convert to float32")
    if tensor.ndim != 2:
        raise ValueError(
            f"`activations` must have shape (n_samples, n_neurons), got {tuple(tensor.shape)}; "
            "reshape a single neuron with activations.reshape(-1, 1)"
        )
    if tensor.shape[0] < 2 or tensor.shape[1] < 1:
        raise ValueError(
            f"`activations` needs at least 2 samples and 1 neuron, got shape {tuple(tensor.shape)}"
        )
    if tensor.is_floating_point():
        finite = torch.isfinite(tensor)
        if not bool(finite.all()):
            bad = (~finite).nonzero()[0].tolist()
            count = int((~finite).sum())
            raise ValueError(
                f"`activations` holds {count} NaN or infinite value(s), the first at sample {bad[0]}, "
                f"neuron {bad[1]}; drop those samples or replace the values before explaining"
            )
    return tensor


def validate_labels(labels, n_samples: int) -> scipy.sparse.csr_array:
    """A boolean CSR matrix of shape (n_samples, n_concepts)."""
    if scipy.sparse.issparse(labels):
        dtype = labels.dtype
        matrix = labels
    elif isinstance(labels, torch.Tensor):
        dtype = labels.dtype
        matrix = labels.to_dense().cpu().numpy() if labels.layout != torch.strided else labels.cpu().numpy()
    elif isinstance(labels, np.ndarray):
        dtype = labels.dtype
        matrix = labels
    else:
        raise TypeError(
            f"`labels` must be a boolean numpy array, scipy.sparse matrix or torch tensor, "
            f"got {type(labels).__name__}"
        )
    if dtype not in (np.bool_, torch.bool):
        raise TypeError(
            f"`labels` must be boolean, got dtype {dtype}; if it holds 0/1, convert with labels.astype(bool) "
            "(numpy, scipy) or labels.bool() (torch)"
        )
    if matrix.ndim != 2 or matrix.shape[0] != n_samples:
        raise ValueError(
            f"`labels` must have shape (n_samples, n_concepts) with n_samples={n_samples} as in `activations`, "
            f"got {tuple(matrix.shape)}"
        )
    return scipy.sparse.csr_array(matrix, dtype=bool)


def validate_concepts(concepts: Sequence[str], n_concepts: int) -> list[str]:
    """A list of unique, non-empty concept names, one per label column."""
    if isinstance(concepts, str) or not isinstance(concepts, Sequence) and not hasattr(concepts, "__iter__"):
        raise TypeError(f"`concepts` must be a sequence of names, got {type(concepts).__name__}")
    names = list(concepts)
    if len(names) != n_concepts:
        raise ValueError(
            f"`concepts` has {len(names)} names but `labels` has {n_concepts} columns; give one name per column"
        )
    not_text = [name for name in names if not isinstance(name, str) or not name]
    if not_text:
        raise ValueError(f"`concepts` must be non-empty strings, got {not_text[:5]!r}")
    seen: set[str] = set()
    duplicates = sorted({name for name in names if name in seen or seen.add(name)})
    if duplicates:
        raise ValueError(f"`concepts` must be unique, got duplicates {duplicates[:10]!r}; rename or merge those columns")
    return names


def validate_parameter(name: str, value) -> None:
    """Check one search parameter against its definition in :data:`invert_core.parameters.PARAMETERS`
    (kind, choices, bounds, whether None is allowed); raises TypeError or ValueError naming it."""
    parameter = PARAMETERS[name]
    if value is None and parameter.optional:
        return
    none = "None or " if parameter.optional else ""
    if parameter.choices is not None:
        if value not in parameter.choices:
            raise ValueError(f"`{name}` must be {none}one of {parameter.choices}, got {value!r}")
        return
    if parameter.kind is int:
        kind = "an integer"
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"`{name}` must be {none}{kind}{_bounds(parameter)}, got {value!r}")
    else:
        kind = "a number"
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise TypeError(f"`{name}` must be {none}{kind}{_bounds(parameter)}, got {value!r}")
    too_low = parameter.minimum is not None and not value >= parameter.minimum  # NaN is neither
    too_high = parameter.maximum is not None and not (
        value < parameter.maximum if parameter.maximum_open else value <= parameter.maximum)
    if too_low or too_high or (kind == "a number" and not math.isfinite(value)):
        raise ValueError(f"`{name}` must be {none}{kind}{_bounds(parameter)}, got {value!r}")


def _bounds(parameter) -> str:
    """The allowed range of a numeric parameter, as text: " in [0, 1)", " >= 1" or ""."""
    if parameter.minimum is not None and parameter.maximum is not None:
        closing = ")" if parameter.maximum_open else "]"
        return f" in [{parameter.minimum:g}, {parameter.maximum:g}{closing}"
    if parameter.minimum is not None:
        return f" >= {parameter.minimum:g}"
    return ""


def validate_search_options(**options) -> None:
    """Check every search parameter of the registry (all must be given) against its definition, then the
    rule that joins two of them."""
    if set(options) != set(PARAMETERS):
        raise TypeError(f"search options {sorted(set(options) ^ set(PARAMETERS))} missing or unknown")
    for name, value in options.items():
        validate_parameter(name, value)
    if options["min_fraction"] > options["max_fraction"]:
        raise ValueError(
            f"`min_fraction` ({options['min_fraction']}) must not exceed `max_fraction` ({options['max_fraction']}); "
            "no formula could satisfy both"
        )


def drop_degenerate_concepts(
    labels: scipy.sparse.csr_array, concepts: list[str]
) -> tuple[scipy.sparse.csr_array, list[str]]:
    """Remove concepts that are positive on no sample or on every sample, with a warning."""
    counts = np.asarray(labels.sum(axis=0)).ravel()
    degenerate = (counts == 0) | (counts == labels.shape[0])
    if degenerate.any():
        skipped = [name for name, flag in zip(concepts, degenerate) if flag]
        warnings.warn(
            f"skipping {len(skipped)} concept(s) positive on no sample or on every sample: {skipped[:10]}",
            stacklevel=3,
        )
        keep = np.flatnonzero(~degenerate)
        return labels[:, keep], [concepts[i] for i in keep]
    return labels, concepts


def validate_selection(*, semantics, selection, min_gain) -> tuple[str, float]:
    """The effective selection criterion and min_gain per literal (defaults decided by the semantics);
    both are checked against the registry beforehand."""
    if selection is None:
        selection = "lower_bound" if semantics == "exact" else "auc"
    if min_gain is None:
        min_gain = DEFAULT_MIN_GAIN[selection] if semantics == "exact" else 0.0
    if semantics == "reference" and (selection != "auc" or min_gain != 0):
        raise ValueError(
            f"semantics='reference' is the authors' search: selection='auc' with `min_gain` 0, got "
            f"selection={selection!r}, min_gain={min_gain}; use semantics='exact' for another criterion"
        )
    return selection, float(min_gain)


def validate_top_quantile(top_quantile) -> None:
    """A fraction in (0, 1]."""
    if isinstance(top_quantile, bool) or not isinstance(top_quantile, (int, float, np.floating)) or not 0 < top_quantile <= 1:
        raise ValueError(f"`top_quantile` must be a fraction in (0, 1], got {top_quantile!r}")


def validate_memory_budget(memory_budget) -> None:
    """A positive number of bytes."""
    if isinstance(memory_budget, bool) or not isinstance(memory_budget, (int, np.integer)) or memory_budget < 1:
        raise ValueError(f"`memory_budget` must be a positive number of bytes, got {memory_budget!r}")


def validate_depth(depth, concepts: list[str]) -> dict[str, int]:
    """Each concept's depth in its hierarchy (0 without ``depth``), by name."""
    if depth is None:
        return dict.fromkeys(concepts, 0)
    array = depth.cpu().numpy() if isinstance(depth, torch.Tensor) else np.asarray(depth)
    if array.shape != (len(concepts),) or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(
            f"`concept_depth` must be integers of shape (n_concepts,) = ({len(concepts)},), one hierarchy "
            f"depth per concept (0 for roots), got dtype {array.dtype} and shape {array.shape}"
        )
    return dict(zip(concepts, array.tolist()))


def validate_strata(strata, n_samples: int) -> np.ndarray | None:
    """None, or a 1-D array of one class per sample."""
    if strata is None:
        return None
    array = strata.cpu().numpy() if isinstance(strata, torch.Tensor) else np.asarray(strata)
    if array.shape != (n_samples,):
        raise ValueError(f"`strata` must have shape (n_samples,) = ({n_samples},), got {array.shape}")
    return array
