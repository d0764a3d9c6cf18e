"""Average ranks of activations, per neuron, computed exactly.

Ranks are returned doubled (``2 * rank``) as float64: average ranks of tied values are half-integers,
so doubled ranks are integers, and every sum of them stays an exact integer in float64 up to 2**53
(rank sums reach N**2, about 2.5e9 at N = 50,000).
"""

from __future__ import annotations

from typing import NamedTuple

import torch


class Ranks(NamedTuple):
    """Doubled average ranks and the tie term of each neuron.

    doubled : Tensor of shape (n_neurons, n_samples), float64 (neuron-major: sorting along the last,
        contiguous axis is about twice as fast as along the first)
        ``2 * r`` where ``r`` is the average rank (1..N, ties share the mean of their ranks).
    tie_term : Tensor of shape (n_neurons,), float64
        ``sum_t (t**3 - t)`` over groups of tied values, as the Mann–Whitney variance needs it.
    order : Tensor of shape (n_neurons, n_samples), int64, the sample at each position of the ascending
        (stable) order
    tie_first, tie_last : Tensors of shape (n_neurons, n_samples), int64, per position of that order the
        first and last position of its group of tied values
    """

    doubled: torch.Tensor
    tie_term: torch.Tensor
    order: torch.Tensor
    tie_first: torch.Tensor
    tie_last: torch.Tensor


def doubled_average_ranks(activations: torch.Tensor) -> Ranks:
    """Rank every column of ``activations`` (shape (n_samples, n_neurons)); see :class:`Ranks`."""
    n_samples = activations.shape[0]
    values, order = torch.sort(activations.T.contiguous(), dim=1, stable=True)
    positions = torch.arange(n_samples, device=activations.device).expand_as(values)
    starts_group = torch.ones_like(values, dtype=torch.bool)
    starts_group[:, 1:] = values[:, 1:] != values[:, :-1]
    ends_group = torch.ones_like(values, dtype=torch.bool)
    ends_group[:, :-1] = starts_group[:, 1:]
    del values
    # First and last sorted position of the tie group each element belongs to.
    first = torch.where(starts_group, positions, 0).cummax(dim=1).values
    last = torch.where(ends_group, positions, n_samples - 1).flip(1).cummin(dim=1).values.flip(1)
    doubled_sorted = (first + last + 2).to(torch.float64)
    doubled = torch.empty_like(doubled_sorted).scatter_(1, order, doubled_sorted)
    group_size = (last - first + 1).to(torch.float64)
    # A group of size t contributes t elements of (t**2 - 1): t**3 - t in all.
    tie_term = (group_size * group_size - 1).sum(dim=1)
    return Ranks(doubled, tie_term, order, first, last)
