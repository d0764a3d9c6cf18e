-- Answers: the best-explained neurons of each layer of a run: their rank-0 explanations, highest AUC
--   first (the tables a run shows on its Prefect page).
-- Grain: one row per neuron, at most top_n per layer, layers in network order, then by AUC descending.
-- Parameters:
--   run (run): the run, by run id or model version (the latest run of that version).
--   top_n (integer, default 20): how many neurons per layer.

select
    best.layer,
    best.neuron,
    best.formula,
    best.auc,
    best.p_value,
    best.log10_p,
    best.effective_q_value,
    best.heldout_auc,
    best.fraction
from best_explanations as best
join layers using (run_id, layer)
where best.run_id = $run
qualify row_number() over (partition by best.layer order by best.auc desc, best.neuron) <= $top_n
order by layers.layer_index, best.auc desc, best.neuron
