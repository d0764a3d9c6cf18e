-- Answers: the best explanation of every explained neuron of a run with all its statistics
--   (null where the run did not compute them) and, for the logits, the class the neuron stands for.
-- Grain: one row per neuron of the run's explained layers, in network order, then by neuron.
-- Parameters:
--   run (run): the run, by run id or model version (the latest run of that version).

select
    best.layer,
    best.neuron,
    neurons.class_name,
    best.formula,
    best.length,
    best.auc,
    best.p_value,
    best.log10_p,
    best.effective_q_value,
    best.fraction,
    best.heldout_auc,
    best.heldout_p_value,
    best.empirical_p_value,
    best.average_precision,
    best.f1,
    best.iou,
    best.mean_difference,
    best.stability,
    best.synonyms
from best_explanations as best
join neurons using (run_id, layer, neuron)
join layers using (run_id, layer)
where best.run_id = $run
order by layers.layer_index, best.neuron
