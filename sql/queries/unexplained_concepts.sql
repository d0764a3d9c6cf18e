-- Answers: which concepts of the run's dataset no neuron explains: no significant best
--   explanation of any layer names them (as a non-negated literal). For each, the neuron whose
--   activation ranks it best on its own (highest atomic AUC; dead neurons left out), to show how
--   close the run came.
-- Grain: one row per unexplained concept, most general first (by hierarchy depth, then name).
-- Parameters:
--   run (run): the run, by run id or model version (the latest run of that version).
--   max_q_value (double, default 0.05): a best explanation is significant when its effective
--     q-value (held-out when the run has one) is below this.

with run_concepts as (
    select concepts.*
    from concepts
    join runs on runs.dataset_fingerprint = concepts.dataset_fingerprint
    where runs.run_id = $run
),

explained as (
    select distinct literals.concept
    from best_literals as literals
    where literals.run_id = $run
        and not literals.negated
        and literals.effective_q_value < $max_q_value
),

dead as (
    select layer, neuron
    from explanations
    where run_id = $run and dead
),

best_atomic as (
    select
        concept,
        auc as best_atomic_auc,
        layer as best_atomic_layer,
        neuron as best_atomic_neuron
    from atomic_scores
    anti join dead using (layer, neuron)
    where run_id = $run
    qualify row_number() over (partition by concept order by auc desc, layer, neuron) = 1
)

select
    run_concepts.concept,
    run_concepts.kind,
    run_concepts.depth,
    run_concepts.n_pos,
    best_atomic.best_atomic_auc,
    best_atomic.best_atomic_layer,
    best_atomic.best_atomic_neuron
from run_concepts
left join best_atomic on best_atomic.concept = run_concepts.concept
where run_concepts.concept not in (select concept from explained)
order by run_concepts.depth nulls last, run_concepts.concept
