-- Answers: between two runs (say model v1 and its retrained v2), which neurons' best
--   explanations changed, and which neurons exist in only one of the runs.
-- Grain: one row per layer and neuron whose best formula differs between the runs (change =
--   'changed'), or that only one run explains (change = 'added' in run_b, 'removed' from run_a);
--   neurons dead in either run (the same activation on every sample, no formula) are left out.
-- Parameters:
--   run_a (run): the earlier run, by run id or model version.
--   run_b (run): the later run, by run id or model version.

with dead as (
    select distinct layer, neuron
    from explanations
    where run_id in ($run_a, $run_b) and dead
),

best_a as (
    select layer, neuron, formula, auc, effective_q_value
    from best_explanations
    where run_id = $run_a
),

best_b as (
    select layer, neuron, formula, auc, effective_q_value
    from best_explanations
    where run_id = $run_b
),

paired as (
    select
        coalesce(best_a.layer, best_b.layer) as layer,
        coalesce(best_a.neuron, best_b.neuron) as neuron,
        best_a.formula as formula_a,
        best_b.formula as formula_b,
        best_a.auc as auc_a,
        best_b.auc as auc_b,
        best_b.auc - best_a.auc as auc_change,
        best_a.effective_q_value as q_value_a,
        best_b.effective_q_value as q_value_b,
        case
            when best_a.formula is null then 'added'
            when best_b.formula is null then 'removed'
            when best_a.formula <> best_b.formula then 'changed'
        end as change
    from best_a
    full outer join best_b on best_b.layer = best_a.layer and best_b.neuron = best_a.neuron
)

select
    paired.layer,
    coalesce(layers_b.layer_index, layers_a.layer_index) as layer_index,
    paired.neuron,
    coalesce(neurons_b.class_name, neurons_a.class_name) as class_name,
    paired.change,
    paired.formula_a,
    paired.formula_b,
    paired.auc_a,
    paired.auc_b,
    paired.auc_change,
    paired.q_value_a,
    paired.q_value_b
from paired
anti join dead using (layer, neuron)
left join layers as layers_a on layers_a.run_id = $run_a and layers_a.layer = paired.layer
left join layers as layers_b on layers_b.run_id = $run_b and layers_b.layer = paired.layer
left join neurons as neurons_a
    on neurons_a.run_id = $run_a and neurons_a.layer = paired.layer and neurons_a.neuron = paired.neuron
left join neurons as neurons_b
    on neurons_b.run_id = $run_b and neurons_b.layer = paired.layer and neurons_b.neuron = paired.neuron
where paired.change is not null
order by layer_index, paired.layer, paired.neuron
