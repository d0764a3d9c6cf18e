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
(no entry wins twice). Then a winner that is a category (a concept g, or g narrowed by more literals:
`garment & ~Trouser`) gives way to its narrowest graded part made of sub-concepts of g only (every literal
names a concept whose samples lie strictly inside g's, such as `Pullover`): the neuron fires most for that
part, less for the rest of the category and least outside it, as a class logit does for its class, its
neighbour classes and the others. Nothing else narrows a winner: an OR of different things
(`Bag | watermark`) is what the neuron fires for, and a part with a concept that is no kind of g (`c0 & c2`
or `c0 & ~c2` inside c0, `leaf0 & wm` inside a node) is the kind of refinement chance admits, or one the
final choice above already weighed. See docs/METHOD.md §6a.
"""

from __future__ import annotations

import torch

from invert_core.formula import And, Formula, Literal, literals
from invert_core.labels import GroupedLabels
from invert_core.refinement import RefinementTest, minus


def winners_first(truth: torch.Tensor, alive: torch.Tensor, n_pos: torch.Tensor, doubled_sum: torch.Tensor,
                  squares: torch.Tensor, value: torch.Tensor, named: torch.Tensor, grouped: GroupedLabels,
                  group_sums: torch.Tensor, test: RefinementTest, n_samples: int, positive: bool) -> list[list[int]]:
    """Each neuron's beam positions, its explanation first and the others in beam order.

    truth : (n_groups, K, B) bool, the entries' truth per label group    alive : (K, B) bool
    n_pos, doubled_sum, squares : (K, B) float64, count, doubled rank sum and sum of squared centred
        doubled ranks of each entry's samples
    value : (K, B) float64, the criterion at the final choice's critical value (larger is better in
        positive mode, smaller in negative mode)
    named : (K, B, B) bool, :func:`named_by_subconcept`
    group_sums : (n_groups, K) float64 doubled rank sums per label group
    test : the refinement test; fewer samples between two entries than its ``min_count`` decide nothing
    """
    n_neurons, width = alive.shape
    weights = truth.to(torch.float64)
    per_group = (grouped.group_size[:, None].expand_as(group_sums), group_sums, test.group_squares)
    # (count, sum, squares) of N ∧ B for every pair of entries N (axis 1) and B (axis 2): (K, B, B) each.
    by_neuron = weights.permute(1, 0, 2)  # (K, n_groups, B)
    both = tuple(torch.bmm((by_neuron * figure.T[:, :, None]).transpose(1, 2), by_neuron) for figure in per_group)
    entry = (n_pos, doubled_sum, squares)
    everything = (torch.full_like(n_pos, float(n_samples)), torch.full_like(n_pos, float(n_samples * (n_samples + 1))),
                  test.total_squares[:, None].expand_as(n_pos))
    narrow = tuple(figure[:, :, None] for figure in entry)
    broad = tuple(figure[:, None, :] for figure in entry)
    outside_broad = tuple(figure[:, None, :] for figure in minus(everything, entry))
    between = minus(broad, both)  # B ∧ ¬N: what the broad entry adds, where N lies inside B

    inside = (both[0] == narrow[0]) & alive[:, :, None] & alive[:, None, :]  # N ⊂ B (supports are distinct)
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
    parts = inside & graded & named  # parts[k, n, b]: n is a graded part of the category b
    index = winner[:, None, None].expand(n_neurons, width, 1)
    narrower = parts.gather(2, index).squeeze(2)  # (K, B): the winner's parts
    narrowest = torch.where(narrower, n_pos, torch.inf).argmin(dim=1)  # the first of equal counts
    winner = torch.where(narrower.any(dim=1), narrowest, winner)
    return [[w] + [s for s in range(width) if s != w] for w in winner.cpu().tolist()]


def named_by_subconcept(formulas: list[list[Formula | None]], grouped: GroupedLabels,
                        concept_index: dict[str, int]) -> torch.Tensor:
    """named[k, x, w]: every literal of entry x of neuron k names a concept whose samples lie strictly inside those
    of a concept g of entry w's category (w is g, or an AND with g among its operands): x is made of kinds of g
    only (`Pullover`, `Shirt | "T-shirt/top"` inside `garment & ~Trouser`; not `leaf0 & wm`). (K, B, B) bool,
    false where an entry is None. Inclusion is read from the label groups, on the search samples."""
    def category(formula: Formula) -> list[int]:  # the concepts of its positive operands (of itself, a literal)
        operands = formula.args if isinstance(formula, And) else (formula,)
        return [concept_index[f.concept] for f in operands if isinstance(f, Literal) and not f.negated]

    parts = [[[concept_index[x.concept] for x in literals(f)] if f is not None else [] for f in row]
             for row in formulas]
    categories = [[category(f) if f is not None else [] for f in row] for row in formulas]
    device = grouped.group_size.device
    alive = torch.tensor([[f is not None for f in row] for row in formulas], dtype=torch.bool, device=device)
    used = sorted({c for table in (parts, categories) for row in table for found in row for c in found})
    has = grouped.group_has_concept[:, used].to(torch.float64)  # (n_groups, S)
    both = has.T @ (has * grouped.group_size[:, None])  # samples of c ∧ g, (S, S)
    count = both.diagonal()
    # inside[c, g]: c ⊊ g; the last row and column stand for padding: a part's padding is inside everything,
    # nothing is inside a category's padding.
    inside = torch.zeros(len(used) + 1, len(used) + 1, dtype=torch.bool, device=device)
    inside[:-1, :-1] = (both == count[:, None]) & (count[:, None] < count[None, :])
    inside[-1] = True

    position = {c: i for i, c in enumerate(used)}

    def padded(table: list[list[list[int]]]) -> torch.Tensor:
        width = max(1, max(len(found) for row in table for found in row))
        return torch.tensor([[[position[c] for c in found] + [len(used)] * (width - len(found)) for found in row]
                             for row in table], dtype=torch.int64, device=device)

    part_index, category_index = padded(parts), padded(categories)  # (K, B, L) each
    pairs = inside[part_index[:, :, None, :, None], category_index[:, None, :, None, :]]  # (K, B, B, L, L)
    return alive[:, :, None] & pairs.any(dim=4).all(dim=3)
