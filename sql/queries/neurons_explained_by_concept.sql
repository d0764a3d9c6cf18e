-- Answers: which neurons a named concept (such as watermark or text) explains: their
--   significant best explanation uses the concept, and the class or neuron each feeds most.
-- Grain: one row per run, layer and neuron, in network order.
-- Parameters:
--   concept (concept): the concept's name, as formulas spell it.
--   run (run, default null): the run, by run id or model version; null searches every run.
--   max_q_value (double, default 0.05): only significant explanations (effective q-value below
--     this) count.
--   include_negated (boolean, default false): also list neurons whose formula uses the concept
--     negated (~concept).

with matches as (
    select literals.run_id, literals.layer, literals.neuron, literals.negated
    from explanation_concepts as literals
    where literals.concept = $concept
        and literals.rank = 0
        and ($run is null or literals.run_id = $run)
        and ($include_negated or not literals.negated)
),

strongest_target as (
    select
        influence.run_id,
        influence.source_layer as layer,
        influence.source_neuron as neuron,
        coalesce(targets.class_name, influence.target_layer || ':' || influence.target_neuron)
            as strongest_target,
        influence.weight as strongest_weight
    from neuron_influence as influence
    join matches
        on matches.run_id = influence.run_id
        and matches.layer = influence.source_layer
        and matches.neuron = influence.source_neuron
    join neurons as targets
        on targets.run_id = influence.run_id
        and targets.layer = influence.target_layer
        and targets.neuron = influence.target_neuron
    qualify row_number() over (
        partition by influence.run_id, influence.source_layer, influence.source_neuron
        order by influence.weight desc, influence.target_layer, influence.target_neuron
    ) = 1
)

select
    matches.run_id,
    runs.model_version,
    matches.layer,
    layers.layer_index,
    matches.neuron,
    neurons.class_name,
    best.formula,
    matches.negated,
    best.auc,
    best.effective_q_value,
    strongest_target.strongest_target,
    strongest_target.strongest_weight
from matches
join best_explanations as best
    on best.run_id = matches.run_id
    and best.layer = matches.layer
    and best.neuron = matches.neuron
join runs on runs.run_id = matches.run_id
join layers on layers.run_id = matches.run_id and layers.layer = matches.layer
join neurons
    on neurons.run_id = matches.run_id
    and neurons.layer = matches.layer
    and neurons.neuron = matches.neuron
left join strongest_target
    on strongest_target.run_id = matches.run_id
    and strongest_target.layer = matches.layer
    and strongest_target.neuron = matches.neuron
where best.effective_q_value < $max_q_value
order by matches.run_id, layers.layer_index, matches.neuron, matches.negated
