-- Answers: between two runs, how much each neuron's best-explanation AUC moved, biggest moves
--   first, and whether its formula changed with it.
-- Grain: one row per layer and neuron explained in both runs (so dead in neither) with
--   |auc_b - auc_a| at least min_abs_change.
-- Parameters:
--   run_a (run): the earlier run, by run id or model version.
--   run_b (run): the later run, by run id or model version.
--   min_abs_change (double, default 0.0): leave out neurons whose AUC moved less than this.

with best_a as (
    select layer, neuron, formula, auc
    from best_explanations
    where run_id = $run_a
),

best_b as (
    select layer, neuron, formula, auc
    from best_explanations
    where run_id = $run_b
)

select
    best_a.layer,
    best_a.neuron,
    neurons.class_name,
    best_a.formula as formula_a,
    best_b.formula as formula_b,
    best_a.formula <> best_b.formula as formula_changed,
    best_a.auc as auc_a,
    best_b.auc as auc_b,
    best_b.auc - best_a.auc as auc_change
from best_a
join best_b on best_b.layer = best_a.layer and best_b.neuron = best_a.neuron
join neurons
    on neurons.run_id = $run_b and neurons.layer = best_b.layer and neurons.neuron = best_b.neuron
where abs(best_b.auc - best_a.auc) >= $min_abs_change
order by abs(best_b.auc - best_a.auc) desc, best_a.layer, best_a.neuron
