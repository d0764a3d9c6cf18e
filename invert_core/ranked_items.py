"""The scored items of a beam step in the spec's stable order, with the refinement test run lazily: only
on the candidates that could enter a ranked pool."""

from __future__ import annotations

import torch

from invert_core.candidates import ItemLayout


class RankedItems:
    """The scored items of one beam step, and their order in the spec's stably sorted combined list.

    old_value, old_valid : (K, B)    position_in_expansion : (K, 2C), the index of each atom in the
    expansion list    rows, candidates, value : (V,), the valid candidates (their neuron, their id
    counted from 0 as :meth:`ItemLayout.decode` reads it, their value), by neuron

    The candidates are held per neuron, padded: ``item`` (K, W) their ids, ``value`` (K, W) their values
    (the worst value where none or not admitted). With ``admission`` (the refinement test of candidates
    given by index tensors (neuron, entry, atom, slot)), a valid candidate is pending until tested, and only
    the candidates that could enter a ranked pool are ever tested: :meth:`ranked` tests each neuron's best
    pending candidates until none of those left could reach the pool, so the result is the one of testing
    every candidate.
    """

    def __init__(self, old_value, old_valid, rows, candidates, value, position_in_expansion, mode,
                 layout: ItemLayout, admission=None) -> None:
        self.descending = mode == "positive"
        self.worst = -torch.inf if self.descending else torch.inf
        self.old_value, self.old_valid = old_value, old_valid
        self.position_in_expansion = position_in_expansion
        self.width = old_value.shape[1]
        self.layout = layout
        self.admission = admission
        n_neurons = old_value.shape[0]
        per_row = torch.bincount(rows, minlength=n_neurons)
        column = torch.arange(len(rows), device=rows.device) - (per_row.cumsum(dim=0) - per_row)[rows]
        padded = (n_neurons, int(per_row.max()) if len(rows) else 0)
        self.item = torch.zeros(padded, dtype=torch.int64, device=rows.device).index_put_((rows, column), candidates)
        held = torch.full(padded, self.worst, dtype=value.dtype, device=value.device).index_put_((rows, column), value)
        present = torch.zeros(padded, dtype=torch.bool, device=rows.device).index_put_(
            (rows, column), torch.ones_like(rows, dtype=torch.bool))
        if admission is None:
            self.value, self.valid, self.pending_value = held, present, None
        else:
            self.pending_value = held
            self.value, self.valid = torch.full_like(held, self.worst), torch.zeros_like(present)

    def _settle(self, limit: int, rows: slice) -> None:
        """Test pending candidates of ``rows``, best first, until in every row the best pending value is
        below the ``limit``-th best known one (old items and admitted candidates)."""
        neurons = torch.arange(self.value.shape[0], device=self.value.device)[rows]
        depth = min(self.pending_value.shape[1], 4 * limit)
        while len(neurons) and depth > 0:
            best = torch.topk(self.pending_value[neurons], depth, dim=1, largest=self.descending)
            values, columns = best.values, best.indices  # (R, depth), best first
            admitted = torch.zeros_like(values, dtype=torch.bool)
            tested = 0
            unsettled = torch.ones(len(neurons), dtype=torch.bool, device=values.device)
            tested_by_row = torch.zeros(len(neurons), dtype=torch.int64, device=values.device)
            while tested < depth:
                stop = min(depth, max(tested * 4, limit))
                part = slice(tested, stop)
                rows_of = torch.arange(len(neurons), device=values.device)[unsettled, None].expand(-1, stop - tested)
                columns_of = columns[unsettled, part]
                pending = values[unsettled, part] != self.worst
                entry, atom, slot = self.layout.decode(self.item[neurons[rows_of[pending]], columns_of[pending]])
                outcome = torch.zeros_like(pending)
                outcome[pending] = self.admission(neurons[rows_of[pending]], entry, atom, slot)
                admitted[unsettled, part] = outcome
                tested_by_row[unsettled] = stop
                tested = stop
                known = torch.cat([self.old_value[neurons], torch.where(admitted, values, self.worst)], dim=1)
                threshold = torch.topk(known, min(limit, known.shape[1]), dim=1, largest=self.descending).values[:, -1]
                if tested < depth:
                    next_pending = values[:, tested]
                elif depth < self.pending_value.shape[1]:  # beyond the depth: at best the last value seen
                    next_pending = values[:, -1]
                else:
                    next_pending = torch.full_like(threshold, self.worst)
                reaches = next_pending >= threshold if self.descending else next_pending <= threshold
                unsettled = reaches & (next_pending != self.worst)
                if not unsettled.any():
                    break
            # Record what was tested: each row's prefix; the rest stays pending.
            done = torch.arange(depth, device=values.device)[None, :] < tested_by_row[:, None]
            done &= values != self.worst
            row_index = neurons[:, None].expand_as(columns)
            accepted = done & admitted
            self.value[row_index[accepted], columns[accepted]] = values[accepted]
            self.valid[row_index[accepted], columns[accepted]] = True
            self.pending_value[row_index[done], columns[done]] = self.worst
            if not unsettled.any():
                return
            neurons = neurons[unsettled]
            depth = min(self.pending_value.shape[1], depth * 4)

    def ranked(self, limit: int | None, rows: slice = slice(None)) -> list[list[int]]:
        """Per neuron, valid items best first in the spec's stable order: all of them with ``limit=None``,
        else at least the first ``limit`` (every item as good as the limit-th best is included)."""
        if self.admission is not None:
            self._settle(self.value.shape[1] + self.width if limit is None else limit, rows)
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
        """Valid items of neuron k, counting pending candidates (which may yet pass their test)."""
        pending = 0 if self.pending_value is None else int((self.pending_value[k] != self.worst).sum())
        return int(self.old_valid[k].sum()) + int(self.valid[k].sum()) + pending
