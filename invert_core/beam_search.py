"""The INVERT beam search, batched over neurons and beam entries.

Every beam step is one sparse matrix product: for all neurons k and beam entries i of a chunk, the
vectors ``a_ki * |g|`` and ``a_ki * R_gk`` over label groups g (see :mod:`invert_core.labels`) are
multiplied by the concept-by-group matrix, which gives n(a ∧ c) and S(a ∧ c) for every concept c;
the identities of the INVERT spec then give a ∧ ~c, a ∨ c and a ∨ ~c without further products.

Counts and rank sums are exact integers in float64 (rank sums doubled, see :mod:`invert_core.ranks`).
Candidate order, stable sorts and support filtering follow the spec step for step; ``semantics``
decides whether beams keep duplicate formulas (``"reference"``) or hold distinct canonical formulas
(``"exact"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal as TypingLiteral

import torch

from invert_core.formula import And, Formula, Literal, Or, canonical, literals
from invert_core.labels import GroupedLabels
from invert_core.selection import Criterion, Selection, refinement_critical_value

Mode = TypingLiteral["positive", "negative"]
Semantics = TypingLiteral["exact", "reference"]


@dataclass(frozen=True)
class SearchConfig:
    """Validated search parameters; counts are the support bounds in samples (inclusive).

    ``selection`` and ``literal_cost`` define the criterion beams are ranked by (see
    :mod:`invert_core.selection`); ``semantics="reference"`` always uses ``"auc"`` at cost 0.
    """

    length: int
    beam: int
    min_count: int
    max_count: int
    mode: Mode
    limit_search: int | None
    semantics: Semantics
    selection: Selection = "auc"
    literal_cost: float = 0.0

    @property
    def criterion(self) -> Criterion:
        return Criterion(self.selection, self.literal_cost, self.mode == "positive")

    def bounds(self, step: int, n_samples: int) -> tuple[int, int]:
        """Support bounds (inclusive) of the beam entries after ``step`` literals.

        The returned formulas lie within ``min_count .. max_count``. With ``selection="significance"``
        a compound entry that will still be extended may cover more samples (up to ``n_samples -
        min_count``), so that `(a | b) & c` is found when `a | b` covers more than ``max_count``
        samples. Atoms keep the bounds, so a beam never holds only entries that cannot be returned.
        """
        if self.selection == "significance" and self.semantics == "exact" and 1 < step < self.length:
            return self.min_count, n_samples - self.min_count
        return self.min_count, self.max_count


@dataclass(frozen=True)
class BeamEntry:
    """One formula of a final beam.

    n_pos is the number of samples where it is true; doubled_rank_sum is 2 * S, the sum of their ranks;
    score is the selection criterion the beam was ranked by; synonyms are the other formulas the search
    met that are true on exactly the same samples (canonical forms, preferred first).
    """

    formula: Formula
    length: int
    n_pos: int
    doubled_rank_sum: float
    score: float = float("nan")
    synonyms: tuple[Formula, ...] = ()


def _sort_direction(values: torch.Tensor, mode: Mode) -> torch.Tensor:
    """Indices that stably sort ``values`` along the last axis, best first for ``mode``."""
    return torch.sort(values, dim=-1, descending=(mode == "positive"), stable=True).indices


@dataclass(frozen=True)
class _Beams:
    """The beams of a chunk of neurons: formulas (Python) and their truth, counts and sums (tensors).

    truth : (n_groups, n_neurons, beam) bool     alive : (n_neurons, beam) bool
    n_pos, doubled_sum, squares, support_key : (n_neurons, beam) float64 (``squares``: the sum of the
        squared doubled ranks where the formula is true; zeros when no refinement test needs it)
    formulas, lengths, synonyms : lists [neuron][slot]
    ``support_key`` fingerprints the set of samples where the formula is true (see :class:`_Supports`).
    """

    truth: torch.Tensor
    alive: torch.Tensor
    n_pos: torch.Tensor
    doubled_sum: torch.Tensor
    squares: torch.Tensor
    support_key: torch.Tensor
    formulas: list[list[Formula | None]]
    lengths: list[list[int]]
    synonyms: list[list[tuple[Formula, ...]]]


class _Supports:
    """Fingerprints of supports (sets of label groups) and the preference among formulas of one support.

    A support's key is the sum of random integer weights of its groups, exact in float64 (the weights are
    below 2**52 / n_groups), so two formulas true on the same samples have the same key and two
    different supports collide with probability about n_groups / 2**52.

    Among formulas of one support the representative is the shortest, then the one with fewer negations,
    then the most specific: ``specificity[c]`` orders concepts, most specific first.
    """

    def __init__(self, grouped: GroupedLabels, specificity: list[int]) -> None:
        generator = torch.Generator().manual_seed(0)
        high = max(2, (1 << 52) // max(1, grouped.n_groups))
        weights = torch.randint(1, high, (grouped.n_groups,), generator=generator, dtype=torch.int64)
        self.weights = weights.to(torch.float64).to(grouped.group_size.device)
        self.total = float(self.weights.sum())
        self.specificity = specificity

    def of_truth(self, truth: torch.Tensor) -> torch.Tensor:
        """Keys of supports given as truth on the groups, shape (n_groups, M) bool: (M,) float64."""
        keys = []
        step = max(1, (1 << 23) // max(1, truth.shape[0]))
        for start in range(0, truth.shape[1], step):
            keys.append(self.weights @ truth[:, start : start + step].to(torch.float64))
        return torch.cat(keys) if keys else torch.zeros(0, dtype=torch.float64, device=truth.device)

    def preference(self, formula: Formula, concepts: dict[str, int]) -> tuple:
        found = literals(formula)
        return (len(formula), sum(lit.negated for lit in found),
                tuple(sorted(self.specificity[concepts[lit.concept]] for lit in found)))


def beam_search(
    group_sums: torch.Tensor,
    grouped: GroupedLabels,
    concepts: list[str],
    n_samples: int,
    config: SearchConfig,
    tie_term: torch.Tensor | None = None,
    specificity: list[int] | None = None,
    group_squares: torch.Tensor | None = None,
) -> list[list[BeamEntry]]:
    """Run the beam search for a chunk of neurons.

    Parameters
    ----------
    group_sums : Tensor of shape (n_groups, n_neurons), float64, doubled rank sums per label group
    grouped : the label groups
    concepts : the C concept names, in column order
    n_samples : N
    config : search parameters
    tie_term : Tensor of shape (n_neurons,), float64, each neuron's ``sum_t (t**3 - t)`` (default: no ties)
    specificity : the C concepts' order from most to least specific (a rank per concept; default:
        column order), which picks the representative among formulas true on the same samples
    group_squares : Tensor of shape (n_groups, n_neurons), float64, sums of squared doubled ranks per
        group; needed by the refinement test of ``selection="significance"`` in exact semantics

    Returns
    -------
    For each neuron, its final beam, best first (possibly fewer than ``config.beam`` entries, or
    none when no formula satisfies the support constraint).
    """
    n_concepts = len(concepts)
    n_neurons = group_sums.shape[1]
    if tie_term is None:
        tie_term = torch.zeros(n_neurons, dtype=torch.float64, device=group_sums.device)
    supports = _Supports(grouped, list(range(n_concepts)) if specificity is None else list(specificity))
    criterion = config.criterion
    atoms = [Literal(name) for name in concepts] + [Literal(name, negated=True) for name in concepts]

    # Atoms: c_0 .. c_{C-1}, then ~c_0 .. ~c_{C-1}.
    positive_count = torch.mv(grouped.concept_by_group, grouped.group_size)  # (C,)
    positive_sum = (grouped.concept_by_group @ group_sums).T  # (K, C)
    total_sum = float(n_samples * (n_samples + 1))  # doubled sum of all ranks
    atom_count = torch.cat([positive_count, n_samples - positive_count])  # (2C,)
    atom_sum = torch.cat([positive_sum, total_sum - positive_sum], dim=1)  # (K, 2C)
    positive_key = torch.mv(grouped.concept_by_group, supports.weights)
    atom_key = torch.cat([positive_key, supports.total - positive_key])  # (2C,)
    atom_valid = _supported(atom_count, config.bounds(1, n_samples))  # (2C,)
    atom_score = criterion.base(atom_count, atom_sum, n_samples, tie_term)  # (K, 2C)
    refinement = None
    if config.semantics == "exact" and config.selection == "significance":
        if group_squares is None:
            raise ValueError("selection='significance' in exact semantics needs group_squares")
        positive_squares = (grouped.concept_by_group @ group_squares).T  # (K, C)
        total_squares = group_squares.sum(dim=0)  # (K,)
        refinement = _RefinementTest(group_squares, total_squares,
                                     torch.cat([positive_squares, total_squares[:, None] - positive_squares], dim=1))

    by_score = _sort_direction(atom_score, config.mode)  # (K, 2C)
    # |AUC - 0.5| as |2U - n_pos n_neg| / (n_pos n_neg): bit-identical for c and ~c.
    pairs = atom_count * (n_samples - atom_count)
    deviation = (atom_sum - atom_count * (atom_count + 1) - pairs).abs() / pairs
    by_deviation = torch.sort(deviation.gather(1, by_score), dim=1, descending=True, stable=True).indices
    expansion = by_score.gather(1, by_deviation)[:, : config.limit_search]  # (K, E)

    context = _Context(atoms, atom_count, atom_sum, atom_key, atom_score, grouped, group_sums, tie_term,
                       supports, {name: i for i, name in enumerate(concepts)}, n_concepts, n_samples, config,
                       refinement)
    if config.semantics == "exact":
        beams = _initial_distinct_beams(by_score, atom_valid, context)
    else:
        beams = _initial_beams(by_score, atom_valid, context)
    for step in range(2, config.length + 1):
        beams = _expand(beams, expansion, step, context)

    lengths = torch.tensor(beams.lengths, dtype=torch.float64, device=beams.n_pos.device)
    scores = criterion.base(beams.n_pos, beams.doubled_sum, n_samples, tie_term) - criterion.charge(lengths)
    alive = beams.alive.cpu().tolist()
    n_pos = beams.n_pos.cpu().tolist()
    sums = beams.doubled_sum.cpu().tolist()
    scores = scores.cpu().tolist()
    return [
        [
            BeamEntry(beams.formulas[k][s], beams.lengths[k][s], int(n_pos[k][s]), sums[k][s], scores[k][s],
                      beams.synonyms[k][s])
            for s in range(config.beam)
            if alive[k][s]
        ]
        for k in range(n_neurons)
    ]


@dataclass(frozen=True)
class _Context:
    """What every step of one chunk's search reads: atoms, labels, sums and the criterion."""

    atoms: list[Literal]
    atom_count: torch.Tensor  # (2C,)
    atom_sum: torch.Tensor  # (K, 2C)
    atom_key: torch.Tensor  # (2C,)
    atom_score: torch.Tensor  # (K, 2C)
    grouped: GroupedLabels
    group_sums: torch.Tensor  # (n_groups, K)
    tie_term: torch.Tensor  # (K,)
    supports: _Supports
    concept_index: dict[str, int]
    n_concepts: int
    n_samples: int
    config: SearchConfig
    refinement: _RefinementTest | None


@dataclass(frozen=True)
class _RefinementTest:
    """What the refinement test reads: squared doubled rank sums per group, in all, and per atom.

    A candidate ``entry op a`` is admitted only when both operands matter: AND with atom a keeps
    entry ∧ a, and the samples it drops from the entry (entry ∧ ¬a) and from the atom (a ∧ ¬entry)
    must each rank lower than the kept ones; OR adds them, and each (a ∧ ¬entry, entry ∧ ¬a) must rank
    higher than the samples of neither (the reverse in negative mode). Each comparison is a pooled
    t-test on the ranks whose critical value grows with the number of candidates of the step
    (Bonferroni at ``REFINEMENT_ALPHA``). Testing against both operands makes the test independent of
    the path: `c125 | c244` is refused from the entry c125 as from c244 when c125 adds nothing.
    """

    group_squares: torch.Tensor  # (n_groups, K)
    total_squares: torch.Tensor  # (K,)
    atom_squares: torch.Tensor  # (K, 2C)


def _supported(counts: torch.Tensor, bounds: tuple[int, int]) -> torch.Tensor:
    return (counts >= bounds[0]) & (counts <= bounds[1])


def _atom_truth(grouped: GroupedLabels, atom_index: torch.Tensor, n_concepts: int) -> torch.Tensor:
    """Truth of atoms (indices into the 2C atoms, any shape S) on every group: (n_groups, *S) bool."""
    truth = grouped.group_has_concept[:, atom_index % n_concepts]
    return truth ^ (atom_index >= n_concepts)


def _beams_of_atoms(chosen: torch.Tensor, alive: torch.Tensor, context: _Context,
                    synonyms: list[list[tuple[Formula, ...]]] | None = None) -> _Beams:
    """Beams holding the atoms ``chosen`` (K, B) where ``alive``."""
    n_neurons, width = chosen.shape
    chosen_list = chosen.cpu().tolist()
    return _Beams(
        truth=_atom_truth(context.grouped, chosen, context.n_concepts),
        alive=alive,
        n_pos=context.atom_count[chosen],
        doubled_sum=context.atom_sum.gather(1, chosen),
        squares=(context.refinement.atom_squares.gather(1, chosen) if context.refinement is not None
                 else torch.zeros(chosen.shape, dtype=torch.float64, device=chosen.device)),
        support_key=context.atom_key[chosen],
        formulas=[
            [context.atoms[a] if is_alive else None for a, is_alive in zip(row, alive_row)]
            for row, alive_row in zip(chosen_list, alive.cpu().tolist())
        ],
        lengths=[[1] * width for _ in range(n_neurons)],  # unused where not alive
        synonyms=synonyms if synonyms is not None else [[()] * width for _ in range(n_neurons)],
    )


def _initial_beams(by_score, atom_valid, context: _Context) -> _Beams:
    """The spec's initial beam: the first B supported atoms in criterion order, duplicates kept."""
    width = context.config.beam
    valid_sorted = atom_valid[by_score]  # (K, 2C)
    # Position of each supported atom among the supported ones, in score order: keep the first B.
    keep = valid_sorted & (valid_sorted.cumsum(dim=1) <= width)
    # Stable sort moves the kept atoms (True) to the front in score order.
    front = torch.sort(keep.to(torch.int8), dim=1, descending=True, stable=True).indices[:, :width]
    chosen = by_score.gather(1, front)  # (K, B) atom indices
    alive = keep.gather(1, front)
    if chosen.shape[1] < width:  # fewer atoms than the beam is wide
        padding = width - chosen.shape[1]
        chosen = torch.nn.functional.pad(chosen, (0, padding))
        alive = torch.nn.functional.pad(alive, (0, padding), value=False)
    return _beams_of_atoms(chosen, alive, context)


def _initial_distinct_beams(by_score, atom_valid, context: _Context) -> _Beams:
    """The first B supported atoms in criterion order with distinct supports, one representative each."""
    width = context.config.beam
    order = by_score.cpu().tolist()
    valid = atom_valid.cpu().tolist()
    keys = context.atom_key.cpu().tolist()
    scores = context.atom_score.cpu().tolist()
    chosen, synonyms, counts = [], [], []
    for k, row in enumerate(order):
        groups: dict[float, list[int]] = {}
        last_score = None
        for atom in row:
            if not valid[atom]:
                continue
            if len(groups) == width and keys[atom] not in groups and scores[k][atom] != last_score:
                break  # every atom of a kept support has been met (synonyms share the score)
            if keys[atom] in groups:
                groups[keys[atom]].append(atom)
            elif len(groups) < width:
                groups[keys[atom]] = [atom]
                last_score = scores[k][atom]
        picked, picked_synonyms = [], []
        for members in groups.values():
            ranked = sorted(members, key=lambda a: (context.supports.preference(context.atoms[a],
                                                                               context.concept_index), a))
            picked.append(ranked[0])
            picked_synonyms.append(tuple(context.atoms[a] for a in ranked[1:]))
        counts.append(len(picked))
        chosen.append(picked + [0] * (width - len(picked)))
        synonyms.append(picked_synonyms + [()] * (width - len(picked)))
    device = by_score.device
    alive = torch.tensor([[slot < count for slot in range(width)] for count in counts], device=device)
    return _beams_of_atoms(torch.tensor(chosen, dtype=torch.int64, device=device), alive, context, synonyms)


def _expand(beams: _Beams, expansion: torch.Tensor, step: int, context: _Context) -> _Beams:
    """One beam step: every beam entry combined with every expansion atom by AND, then OR.

    Items of the step are the old beam slots s (item s) followed by the candidates: beam entry i,
    atom a (of the 2C atoms) and operator o (0 = AND, 1 = OR) is item ``B + (i * 2C + a) * 2 + o``.
    Their order in the spec's combined list (creation order) puts atoms in expansion order instead;
    only the few items that can enter the new beam are ever put in that order.
    """
    config, grouped, criterion = context.config, context.grouped, context.config.criterion
    n_groups, n_neurons, width = beams.truth.shape
    n_concepts, n_atoms, n_samples = context.n_concepts, 2 * context.n_concepts, context.n_samples
    weights = beams.truth.to(torch.float64) * beams.alive.unsqueeze(0)
    blocks = [grouped.group_size[:, None, None], context.group_sums[:, :, None]]
    if context.refinement is not None:
        blocks.append(context.refinement.group_squares[:, :, None])
    stacked = torch.cat([(weights * block).reshape(n_groups, -1) for block in blocks], dim=1)
    product = grouped.concept_by_group @ stacked  # (C, 2 or 3 K B): the one product of this step
    and_count_pos = product[:, : n_neurons * width].reshape(n_concepts, n_neurons, width).permute(1, 2, 0)
    and_sum_pos = product[:, n_neurons * width : 2 * n_neurons * width].reshape(n_concepts, n_neurons, width).permute(1, 2, 0)
    beam_count = beams.n_pos.unsqueeze(2)  # (K, B, 1)
    beam_sum = beams.doubled_sum.unsqueeze(2)
    and_count = torch.cat([and_count_pos, beam_count - and_count_pos], dim=2)  # (K, B, 2C)
    and_sum = torch.cat([and_sum_pos, beam_sum - and_sum_pos], dim=2)
    count = torch.stack([and_count, beam_count + context.atom_count - and_count], dim=3).reshape(n_neurons, -1)
    sums = torch.stack([and_sum, beam_sum + context.atom_sum.unsqueeze(1) - and_sum], dim=3).reshape(n_neurons, -1)
    admitted = squares = None
    if context.refinement is not None:
        and_squares_pos = product[:, 2 * n_neurons * width :].reshape(n_concepts, n_neurons, width).permute(1, 2, 0)
        beam_squares = beams.squares.unsqueeze(2)
        and_squares = torch.cat([and_squares_pos, beam_squares - and_squares_pos], dim=2)
        or_squares = beam_squares + context.refinement.atom_squares.unsqueeze(1) - and_squares
        squares = torch.stack([and_squares, or_squares], dim=3).reshape(n_neurons, -1)
        admitted = _admitted_refinements(beams, context, and_count, and_sum, and_squares, expansion.shape[1])
        del and_squares_pos, and_squares, or_squares
    del and_count_pos, and_sum_pos, and_count, and_sum
    del product, stacked

    in_expansion = torch.zeros((n_neurons, n_atoms), dtype=torch.bool, device=count.device)
    in_expansion.scatter_(1, expansion, True)
    valid = (
        _supported(count, config.bounds(step, n_samples)).reshape(n_neurons, width, n_atoms, 2)
        & beams.alive[:, :, None, None]
        & in_expansion[:, None, :, None]
    ).reshape(n_neurons, -1)
    if config.semantics == "exact":
        # A literal that moves no sample restates its entry (`bag & container` where every bag is a
        # container): never a candidate, so beams and synonyms hold only formulas that select.
        valid &= count != beams.n_pos.repeat_interleave(n_atoms * 2, dim=1)
    if admitted is not None:
        valid &= admitted
    worst = -torch.inf if config.mode == "positive" else torch.inf
    # A candidate is charged one literal more than its beam entry; in exact semantics the charge is
    # settled on the canonical length of its support's representative (see _distinct_best).
    old_lengths = torch.tensor(beams.lengths, dtype=torch.float64, device=count.device)
    candidate_lengths = (old_lengths + 1)[:, :, None, None].expand(n_neurons, width, n_atoms, 2).reshape(n_neurons, -1)
    base = criterion.base(count, sums, n_samples, context.tie_term)
    value = torch.where(valid, base - criterion.charge(candidate_lengths), worst)
    old_base = criterion.base(beams.n_pos, beams.doubled_sum, n_samples, context.tie_term)
    old_valid = beams.alive & _supported(beams.n_pos, config.bounds(step, n_samples))
    old_value = torch.where(old_valid, old_base - criterion.charge(old_lengths), worst)
    position_in_expansion = torch.zeros((n_neurons, n_atoms), dtype=torch.int64, device=count.device)
    position_in_expansion.scatter_(
        1, expansion, torch.arange(expansion.shape[1], device=count.device).expand_as(expansion).contiguous()
    )
    items = _Items(old_value, old_valid, value, valid, position_in_expansion, config.mode)

    def describe(k: int, item: int) -> tuple[Formula, int]:
        """The formula of an item and its length."""
        if item < width:
            return beams.formulas[k][item], beams.lengths[k][item]
        entry, rest = divmod(item - width, 2 * n_atoms)
        node_type = And if rest % 2 == 0 else Or
        return node_type((beams.formulas[k][entry], context.atoms[rest // 2])), step

    if config.semantics == "reference":
        selected = [row[:width] for row in items.ranked(limit=width)]
        described = [[describe(k, item) for item in row] for k, row in enumerate(selected)]
        synonyms = [[()] * width for _ in range(n_neurons)]
    elif config.semantics == "exact":
        scores = _Scores(old_base, base, criterion)
        selected, described, synonyms = _distinct_best(items, describe, scores, beams, context)
    else:
        raise ValueError(f"unknown semantics {config.semantics!r}")

    alive = torch.tensor([[slot < len(row) for slot in range(width)] for row in selected], device=count.device)
    padded = torch.tensor([row + [0] * (width - len(row)) for row in selected], dtype=torch.int64,
                          device=count.device)
    formulas = [[formula for formula, _ in row] + [None] * (width - len(row)) for row in described]
    lengths = [[size for _, size in row] + [0] * (width - len(row)) for row in described]

    # Counts, sums and truth of the selected items: an old beam entry, or an entry combined with an atom.
    from_candidate = padded >= width
    candidate = (padded - width).clamp(min=0)
    entry = torch.where(from_candidate, candidate // (2 * n_atoms), padded)
    atom_index = (candidate // 2) % n_atoms
    is_and = candidate % 2 == 0
    n_pos = torch.where(from_candidate, count.gather(1, candidate), beams.n_pos.gather(1, entry))
    doubled_sum = torch.where(from_candidate, sums.gather(1, candidate), beams.doubled_sum.gather(1, entry))
    new_squares = (beams.squares if squares is None else
                   torch.where(from_candidate, squares.gather(1, candidate), beams.squares.gather(1, entry)))
    base_truth = beams.truth.gather(2, entry.unsqueeze(0).expand(n_groups, -1, -1))
    atom_truth = _atom_truth(grouped, atom_index, n_concepts)
    combined = torch.where(is_and.unsqueeze(0), base_truth & atom_truth, base_truth | atom_truth)
    truth = torch.where(from_candidate.unsqueeze(0), combined, base_truth)
    support_key = context.supports.of_truth(truth.reshape(n_groups, -1)).reshape(n_neurons, width)
    return _Beams(truth, alive, n_pos, doubled_sum, new_squares, support_key, formulas, lengths, synonyms)


def _admitted_refinements(beams, context: _Context, and_count, and_sum, and_squares, n_expansion: int):
    """(K, B * 2C * 2) bool: the candidates whose moved samples pass the refinement test (see
    :class:`_RefinementTest`)."""
    n_neurons, width, n_atoms = and_count.shape
    n, total_sum = context.n_samples, float(context.n_samples * (context.n_samples + 1))
    total_squares = context.refinement.total_squares[:, None, None]
    entry = (beams.n_pos.unsqueeze(2), beams.doubled_sum.unsqueeze(2), beams.squares.unsqueeze(2))
    atom = (context.atom_count, context.atom_sum.unsqueeze(1), context.refinement.atom_squares.unsqueeze(1))
    both = (and_count, and_sum, and_squares)  # entry ∧ a
    entry_only = tuple(e - k for e, k in zip(entry, both))  # entry ∧ ¬a
    atom_only = tuple(a - k for a, k in zip(atom, both))  # a ∧ ¬entry
    neither = tuple(total - e - a for total, e, a in zip((n, total_sum, total_squares), entry, atom_only))
    # AND keeps `both`: what it drops from the entry, and from the atom, ranks lower. OR adds the atom's
    # samples to the entry's: what each operand brings beyond the other ranks higher than `neither`.
    sign = 1.0 if context.config.mode == "positive" else -1.0
    critical = refinement_critical_value(width * n_expansion * 2)

    def passes(high, low):
        """``high`` ranks significantly above ``low`` (below in negative mode)."""
        return sign * _rank_t(high, low) >= critical

    and_passes = passes(both, entry_only) & passes(both, atom_only)
    or_passes = passes(atom_only, neither) & passes(entry_only, neither)
    return torch.stack([and_passes, or_passes], dim=3).reshape(n_neurons, -1)


def _rank_t(first, second) -> torch.Tensor:
    """Pooled two-sample t-statistic of the ranks of two disjoint sets given (count, sum, squares) of
    their doubled ranks: positive where ``first`` ranks higher, 0 where a set is empty."""
    (n1, s1, q1), (n2, s2, q2) = first, second
    with torch.no_grad():
        safe1, safe2 = n1.clamp(min=1), n2.clamp(min=1)
        within = (q1 - s1 * s1 / safe1) + (q2 - s2 * s2 / safe2)
        pooled = (within / (n1 + n2 - 2).clamp(min=1)).clamp(min=0)
        difference = s1 / safe1 - s2 / safe2
        scale = (pooled * (1 / safe1 + 1 / safe2)).sqrt()
        t = torch.where(scale > 0, difference / scale, torch.zeros_like(difference))
        return torch.where((n1 > 0) & (n2 > 0), t, torch.zeros_like(t))


@dataclass(frozen=True)
class _Scores:
    """The criterion of a step's items before the literal charge: old_base (K, B), base (K, B * 2C * 2)."""

    old_base: torch.Tensor
    base: torch.Tensor
    criterion: Criterion


class _Items:
    """The scored items of one beam step, and their order in the spec's stably sorted combined list.

    old_value, old_valid : (K, B)    value, valid : (K, B * 2C * 2)    (invalid items hold the worst value)
    position_in_expansion : (K, 2C), the index of each atom in the expansion list
    """

    def __init__(self, old_value, old_valid, value, valid, position_in_expansion, mode) -> None:
        self.old_value, self.old_valid = old_value, old_valid
        self.value, self.valid = value, valid
        self.position_in_expansion = position_in_expansion
        self.descending = mode == "positive"
        self.width = old_value.shape[1]

    def ranked(self, limit: int | None, rows: slice = slice(None)) -> list[list[int]]:
        """Per neuron, valid items best first in the spec's stable order: all of them with ``limit=None``,
        else at least the first ``limit`` (every item as good as the limit-th best is included)."""
        old_value, old_valid = self.old_value[rows], self.old_valid[rows]
        value, valid = self.value[rows], self.valid[rows]
        if limit is not None:
            best = torch.cat([torch.topk(value, min(limit, value.shape[1]), dim=1, largest=self.descending).values,
                              old_value], dim=1)
            threshold = torch.topk(best, min(limit, best.shape[1]), dim=1, largest=self.descending).values[:, -1:]
            good_enough = (lambda v: v >= threshold) if self.descending else (lambda v: v <= threshold)
            old_valid = old_valid & good_enough(old_value)
            valid = valid & good_enough(value)
        old_rows, old_items = old_valid.nonzero(as_tuple=True)
        new_rows, new_items = valid.nonzero(as_tuple=True)
        n_atoms = self.position_in_expansion.shape[1]
        entry, rest = new_items // (2 * n_atoms), new_items % (2 * n_atoms)
        expansion_position = self.position_in_expansion[rows][new_rows, rest // 2]
        # Creation order is lexicographic in (entry, position in the expansion list, operator); 2C bounds
        # the expansion length, so this index keeps that order.
        creation = torch.cat([old_items, self.width + (entry * n_atoms + expansion_position) * 2 + rest % 2])
        item_rows = torch.cat([old_rows, new_rows])
        item_values = torch.cat([old_value[old_rows, old_items], value[new_rows, new_items]])
        item_ids = torch.cat([old_items, self.width + new_items])
        order = torch.sort(creation, stable=True).indices
        order = order[torch.sort(item_values[order], descending=self.descending, stable=True).indices]
        order = order[torch.sort(item_rows[order], stable=True).indices]
        counts = torch.bincount(item_rows, minlength=old_value.shape[0]).cpu().tolist()
        flat = item_ids[order].cpu().tolist()
        result, start = [], 0
        for count in counts:
            result.append(flat[start : start + count])
            start += count
        return result

    def n_valid(self, k: int) -> int:
        return int(self.old_valid[k].sum()) + int(self.valid[k].sum())


def _distinct_best(items: _Items, describe, scores: _Scores, beams: _Beams, context: _Context):
    """Per neuron, the best ``width`` distinct supports among the ranked items, one formula each.

    Items true on the same samples form one support; its representative is the preferred canonical
    formula among them (see :class:`_Supports`), the others (and the synonyms the old beam entry
    carried) become its synonyms, and its score is charged for the representative's length.
    Returns the selected items, their (formula, length) and their synonyms per neuron, best first.
    """
    width = items.width
    pools = items.ranked(limit=4 * width)
    details = _pool_keys_and_bases(list(range(len(pools))), pools, scores, beams, context)
    selected, described, synonyms = [], [], []
    for k, pool in enumerate(pools):
        chosen = _first_distinct(k, pool, details[k], describe, scores, beams, context)
        limit = 4 * width
        while len(chosen) < width and len(pool) < items.n_valid(k):  # many synonyms: a deeper pool
            limit *= 4
            pool = items.ranked(limit, slice(k, k + 1))[0]
            detail = _pool_keys_and_bases([k], [pool], scores, beams, context)[0]
            chosen = _first_distinct(k, pool, detail, describe, scores, beams, context)
        selected.append([item for item, _, _ in chosen])
        described.append([(formula, len(formula)) for _, formula, _ in chosen])
        synonyms.append([others for _, _, others in chosen] + [()] * (width - len(chosen)))
    return selected, described, synonyms


def _first_distinct(k: int, pool: list[int], detail, describe, scores: _Scores, beams: _Beams, context: _Context):
    """(item, representative, synonyms) of the best ``width`` supports among ``pool``'s items of neuron k;
    ``detail`` holds the items' support keys and criterion values."""
    width = beams.alive.shape[1]
    keys, bases = detail
    supports: dict[float, dict] = {}
    for item, key, base in zip(pool, keys, bases):
        formula = canonical(describe(k, item)[0])
        if formula is None:
            continue
        support = supports.setdefault(key, {"item": item, "base": base, "formulas": []})
        support["formulas"].append(formula)
        if item < width:
            support["formulas"].extend(beams.synonyms[k][item])
    preference = lambda formula: context.supports.preference(formula, context.concept_index)  # noqa: E731
    ranked = []
    for support in supports.values():
        formulas = sorted(dict.fromkeys(support["formulas"]), key=preference)
        value = support["base"] - scores.criterion.charge_of(len(formulas[0]))
        ranked.append((value, support["item"], formulas[0], tuple(formulas[1:])))
    ranked.sort(key=lambda row: row[0], reverse=scores.criterion.positive)  # stable: pool order breaks ties
    return [(item, formula, others) for _, item, formula, others in ranked[:width]]


def _pool_keys_and_bases(neurons: list[int], pools: list[list[int]], scores: _Scores, beams: _Beams,
                         context: _Context) -> list[tuple[list[float], list[float]]]:
    """Support keys and criterion values (before the charge) of the items of each neuron's pool, computed
    for all neurons at once: per neuron, (keys, values) aligned with its pool."""
    width = beams.alive.shape[1]
    n_atoms = 2 * context.n_concepts
    device = beams.n_pos.device

    def index(select):
        pairs = [(k, item) for k, pool in zip(neurons, pools) for item in pool if select(item)]
        return (torch.tensor([k for k, _ in pairs], dtype=torch.int64, device=device),
                torch.tensor([item for _, item in pairs], dtype=torch.int64, device=device))

    new_neuron, new_item = index(lambda item: item >= width)
    old_neuron, old_item = index(lambda item: item < width)
    candidate = new_item - width
    entry, rest = candidate // (2 * n_atoms), candidate % (2 * n_atoms)
    keys = []
    step = max(1, (1 << 23) // max(1, context.grouped.n_groups))
    for start in range(0, len(candidate), step):
        part = slice(start, start + step)
        atom_truth = _atom_truth(context.grouped, rest[part] // 2, context.n_concepts)  # (G, m)
        entry_truth = beams.truth[:, new_neuron[part], entry[part]]  # (G, m)
        is_and = (rest[part] % 2 == 0).unsqueeze(0)
        keys.append(context.supports.of_truth(torch.where(is_and, entry_truth & atom_truth, entry_truth | atom_truth)))
    new_keys = (torch.cat(keys) if keys else torch.zeros(0, dtype=torch.float64)).cpu().tolist()
    new_bases = scores.base[new_neuron, candidate].cpu().tolist()
    old_keys = beams.support_key[old_neuron, old_item].cpu().tolist()
    old_bases = scores.old_base[old_neuron, old_item].cpu().tolist()
    old_pairs, new_pairs = iter(zip(old_keys, old_bases)), iter(zip(new_keys, new_bases))
    details = []
    for pool in pools:
        pairs = [next(old_pairs if item < width else new_pairs) for item in pool]
        details.append(([key for key, _ in pairs], [base for _, base in pairs]))
    return details
