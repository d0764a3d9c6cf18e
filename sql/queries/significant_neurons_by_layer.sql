-- Answers: for each explained layer of a run, how many neurons have a significant best
--   explanation, and how well those explanations fit; how many are dead (the same activation on
--   every sample: no explanation, counted in n_neurons but in no other count).
-- Grain: one row per explained layer of the run, in network order.
-- Parameters:
--   run (run): the run, by run id or model version (the latest run of that version).
--   max_q_value (double, default 0.05): a best explanation is significant when its effective
--     q-value (held-out when the run has one) is below this.

with run_layers as (
    select layer, layer_index, n_neurons
    from layers
    where run_id = $run and is_explained
),

best as (
    select layer, auc, effective_q_value < $max_q_value as is_significant
    from best_explanations
    where run_id = $run
),

dead as (
    select layer, count(*) as n_dead
    from explanations
    where run_id = $run and dead
    group by layer
)

select
    run_layers.layer,
    run_layers.layer_index,
    run_layers.n_neurons,
    coalesce(dead.n_dead, 0) as n_dead,
    count(best.layer) as n_explained,
    count(*) filter (where best.is_significant) as n_significant,
    count(*) filter (where best.is_significant) / run_layers.n_neurons as share_significant,
    avg(best.auc) filter (where best.is_significant) as mean_significant_auc
from run_layers
left join best on best.layer = run_layers.layer
left join dead on dead.layer = run_layers.layer
group by run_layers.layer, run_layers.layer_index, run_layers.n_neurons, dead.n_dead
order by run_layers.layer_index
