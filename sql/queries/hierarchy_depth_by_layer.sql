-- Answers: at which depth of the concept hierarchy each layer's explanations sit: do deeper
--   layers explain more specific concepts? A neuron's explanation depth is the mean hierarchy
--   depth of the non-negated concepts of its significant best explanation (concepts outside the
--   hierarchy, such as attributes, have no depth and are left out).
-- Grain: one row per explained layer of the run, in network order.
-- Parameters:
--   run (run): the run, by run id or model version (the latest run of that version).
--   max_q_value (double, default 0.05): a best explanation is significant when its effective
--     q-value (held-out when the run has one) is below this.

with run_layers as (
    select layer, layer_index
    from layers
    where run_id = $run and is_explained
),

significant as (
    select layer, neuron, length
    from best_explanations
    where run_id = $run and effective_q_value < $max_q_value
),

neuron_depths as (
    select layer, neuron, avg(concept_depth) as explanation_depth
    from best_literals
    where run_id = $run
        and effective_q_value < $max_q_value
        and not negated
        and concept_depth is not null
    group by all
),

layer_lengths as (
    select layer, count(*) as n_significant, avg(length) as mean_length
    from significant
    group by layer
),

layer_depths as (
    select
        layer,
        count(*) as n_with_depth,
        avg(explanation_depth) as mean_depth,
        min(explanation_depth) as min_depth,
        max(explanation_depth) as max_depth
    from neuron_depths
    group by layer
)

select
    run_layers.layer,
    run_layers.layer_index,
    coalesce(layer_lengths.n_significant, 0) as n_significant,
    coalesce(layer_depths.n_with_depth, 0) as n_with_depth,
    layer_depths.mean_depth,
    layer_depths.min_depth,
    layer_depths.max_depth,
    layer_lengths.mean_length
from run_layers
left join layer_lengths on layer_lengths.layer = run_layers.layer
left join layer_depths on layer_depths.layer = run_layers.layer
order by run_layers.layer_index
