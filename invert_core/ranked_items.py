"""The scored items of a beam step in the spec's stable order."""

from __future__ import annotations

import torch

from invert_core.candidates import ItemLayout


class RankedItems:
    """The scored items of one beam step, and their order in the spec's stably sorted combined list.

    old_value, old_valid : (K, B)    position_in_expansion : (K, 2C), the index of each atom in the
    expansion list    rows, candidates, value : (V,), the valid candidates (their neuron, their id
    counted from 0 as :meth:`ItemLayout.decode` reads it, their value), by neuron

    The candidates are held per neuron, padded: ``item`` (K, W) their ids, ``value`` (K, W) their values,
    ``valid`` (K, W) where one is held.
    """

    def __init__(self, old_value, old_valid, rows, candidates, value, position_in_expansion, mode,
                 layout: ItemLayout) -> None:
        self.descending = mode == "positive"
        worst = -torch.inf if self.descending else torch.inf
        self.old_value, self.old_valid = old_value, old_valid
        self.position_in_expansion = position_in_expansion
        self.width = old_value.shape[1]
        self.layout = layout
        n_neurons = old_value.shape[0]
        per_row = torch.bincount(rows, minlength=n_neurons)
        column = torch.arange(len(rows), device=rows.device) - (per_row.cumsum(dim=0) - per_row)[rows]
        padded = (n_neurons, int(per_row.max()) if len(rows) else 0)
        self.item = torch.zeros(padded, dtype=torch.int64, device=rows.device).index_put_((rows, column), candidates)
        self.value = torch.full(padded, worst, dtype=value.dtype, device=value.device).index_put_((rows, column),
                                                                                                value)
        self.valid = torch.zeros(padded, dtype=torch.bool, device=rows.device).index_put_(
            (rows, column), torch.ones_like(rows, dtype=torch.bool))

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
        new_rows, new_columns = valid.nonzero(as_tuple=True)
        new_items = self.item[rows][new_rows, new_columns]
        layout = self.layout
        entry, atom, slot = layout.decode(new_items)
        expansion_position = self.position_in_expansion[rows][new_rows, atom]
        # Creation order is lexicographic in (entry, position in the expansion list, slot); 2C bounds
        # the expansion length, so this index keeps that order.
        creation = torch.cat([old_items,
                              self.width + (entry * layout.n_atoms + expansion_position) * layout.n_slots + slot])
        item_rows = torch.cat([old_rows, new_rows])
        item_values = torch.cat([old_value[old_rows, old_items], value[new_rows, new_columns]])
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
        """Valid items of neuron k."""
        return int(self.old_valid[k].sum()) + int(self.valid[k].sum())
