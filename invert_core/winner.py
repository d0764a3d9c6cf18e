"""Which formula of a neuron's final beam explains it: the best by the criterion, unless a nested one
is preferred by the samples between them.

The lower confidence bound (:mod:`invert_core.selection`) guards against chance, but it judges each
formula alone. Between two nested formulas N ⊂ B it prefers the larger, more precise one when their AUCs
are close (a logit's class against the class and its neighbours), and it prefers a smaller one that
left out, by chance, a weak part of the neuron's meaning (the OR of two of three planted leaves). The
samples between them, D = B ∧ ¬N, tell the cases apart, by the test that admits a literal
(:mod:`invert_core.refinement`, at the search's level):

- D ranks below N's samples and not above the samples outside B: N (D does not belong);
- D ranks above the samples outside B and not below N's: B (D belongs);
- both (a graded neuron): the better criterion at the final choice's critical value;
- neither, or fewer samples between them than a formula may hold (``min_fraction``): no preference.

Starting from the best entry, the best of the entries preferred to the winner replaces it, until none is
(no entry wins twice). See docs/METHOD.md §6a.
"""

from __future__ import annotations

import torch

from invert_core.labels import GroupedLabels
from invert_core.refinement import RefinementTest, minus


def winners_first(truth: torch.Tensor, alive: torch.Tensor, n_pos: torch.Tensor, doubled_sum: torch.Tensor,
                  squares: torch.Tensor, value: torch.Tensor, grouped: GroupedLabels, group_sums: torch.Tensor,
                  test: RefinementTest, n_samples: int, min_count: int, positive: bool) -> list[list[int]]:
    """Each neuron's beam positions, its explanation first and the others in beam order.

    truth : (n_groups, K, B) bool, the entries' truth per label group    alive : (K, B) bool
    n_pos, doubled_sum, squares : (K, B) float64, count, doubled rank sum and sum of squared centred
        doubled ranks of each entry's samples
    value : (K, B) float64, the criterion at the final choice's critical value (larger is better in
        positive mode, smaller in negative mode)
    group_sums : (n_groups, K) float64 doubled rank sums per label group
    min_count : the fewest samples a formula may be true on; fewer samples between two entries decide
        nothing
    """
    n_neurons, width = alive.shape
    weights = truth.to(torch.float64)
    per_group = (grouped.group_size[:, None].expand_as(group_sums), group_sums, test.group_squares)
    # (count, sum, squares) of N ∧ B for every pair of entries N (axis 1) and B (axis 2): (K, B, B) each.
    both = tuple(torch.einsum("gkn,gkb,gk->knb", weights, weights, figure) for figure in per_group)
    entry = (n_pos, doubled_sum, squares)
    everything = (torch.full_like(n_pos, float(n_samples)), torch.full_like(n_pos, float(n_samples * (n_samples + 1))),
                  test.total_squares[:, None].expand_as(n_pos))
    narrow = tuple(figure[:, :, None] for figure in entry)
    broad = tuple(figure[:, None, :] for figure in entry)
    outside_broad = tuple(figure[:, None, :] for figure in minus(everything, entry))
    between = minus(broad, both)  # B ∧ ¬N: what the broad entry adds, where N lies inside B

    # N ⊂ B (supports are distinct), with at least min_count samples between them.
    inside = (both[0] == narrow[0]) & (between[0] >= min_count) & alive[:, :, None] & alive[:, None, :]
    below = test.ranks_above(narrow, between, positive)  # the samples between rank below the narrow entry's
    above = test.ranks_above(between, outside_broad, positive)  # ... and above those outside the broad one
    key = torch.where(alive, value if positive else -value, -torch.inf)  # larger is better
    better = key[:, :, None] > key[:, None, :]  # entry on axis 1 better than entry on axis 2
    graded = below & above
    # prefers[k, x, w]: entry x is preferred to entry w.
    prefers = (inside & ((below & ~above) | (graded & better))
               | (inside & ((above & ~below) | (graded & better.transpose(1, 2)))).transpose(1, 2))

    winner = torch.zeros(n_neurons, dtype=torch.int64, device=alive.device)
    visited = torch.zeros_like(alive)
    rows = torch.arange(n_neurons, device=alive.device)
    for _ in range(width):  # a winner is never chosen twice, so this ends
        visited[rows, winner] = True
        index = winner[:, None, None].expand(n_neurons, width, 1)
        challengers = prefers.gather(2, index).squeeze(2) & ~visited  # (K, B): preferred to the winner
        found = challengers.any(dim=1)
        if not found.any():
            break
        best = torch.where(challengers, key, -torch.inf).argmax(dim=1)  # the first of equal values
        winner = torch.where(found, best, winner)
    return [[w] + [s for s in range(width) if s != w] for w in winner.cpu().tolist()]
