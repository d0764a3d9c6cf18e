-- Answers: which neurons of a run are dead: their activation is the same on every sample, so no
--   formula can explain them; they have no best explanation and are left out of the diffs and the
--   counts of the other queries.
-- Grain: one row per dead neuron of the run, in network order, then by neuron.
-- Parameters:
--   run (run): the run, by run id or model version (the latest run of that version).

select explanations.layer, layers.layer_index, explanations.neuron, neurons.class_name
from explanations
join layers using (run_id, layer)
join neurons using (run_id, layer, neuron)
where explanations.run_id = $run and explanations.dead
order by layers.layer_index, explanations.neuron
