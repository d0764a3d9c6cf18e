-- Answers: which runs the warehouse holds, which model version and dataset each explained, and
--   how many of its neurons have a significant best explanation.
-- Grain: one row per run, newest first (by place in history: created_at, sequence, run_id).
-- Parameters:
--   max_q_value (double, default 0.05): a best explanation is significant when its effective
--     q-value (held-out when the run has one) is below this.

with layer_counts as (
    select run_id, count(*) as n_layers, sum(n_neurons)::integer as n_neurons
    from layers
    where is_explained
    group by run_id
),

significant_counts as (
    select run_id, count(*) as n_significant
    from best_explanations
    where effective_q_value < $max_q_value
    group by run_id
)

select
    runs.run_id,
    runs.model_name,
    runs.model_version,
    runs.model_fingerprint,
    runs.dataset_name,
    runs.status,
    runs.created_at,
    runs.sequence,
    runs.started_at,
    runs.finished_at,
    coalesce(layer_counts.n_layers, 0) as n_layers,
    coalesce(layer_counts.n_neurons, 0) as n_neurons,
    coalesce(significant_counts.n_significant, 0) as n_significant
from runs
left join layer_counts on layer_counts.run_id = runs.run_id
left join significant_counts on significant_counts.run_id = runs.run_id
order by runs.created_at desc nulls last, runs.sequence desc nulls last, runs.run_id desc
