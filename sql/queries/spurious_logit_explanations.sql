-- Answers: which class outputs (logits) are explained by a formula that uses a concept outside
--   the class's own hierarchy (not the class, one of its ancestors or descendants), such as
--   `bag | watermark` for the class bag: the model's score for the class follows that concept.
-- Grain: one row per logit neuron and distinct literal of its best explanation whose concept is
--   outside the class's hierarchy.
-- Parameters:
--   run (run): the run, by run id or model version (the latest run of that version).
--   max_q_value (double, default 0.05): only significant explanations (effective q-value below
--     this) are judged.

with run_info as (
    select dataset_fingerprint
    from runs
    where run_id = $run
),

logits as (
    select
        neurons.layer,
        neurons.neuron,
        neurons.class_name,
        best.formula,
        best.auc,
        best.effective_q_value
    from neurons
    join best_explanations as best
        on best.run_id = neurons.run_id
        and best.layer = neurons.layer
        and best.neuron = neurons.neuron
    where neurons.run_id = $run
        and neurons.class_name is not null
        and best.effective_q_value < $max_q_value
)

select
    logits.class_name,
    logits.layer,
    logits.neuron,
    logits.formula,
    logits.auc,
    logits.effective_q_value,
    literals.concept,
    literals.negated,
    concepts.kind as concept_kind
from logits
join explanation_concepts as literals
    on literals.run_id = $run
    and literals.layer = logits.layer
    and literals.neuron = logits.neuron
    and literals.rank = 0
join concepts
    on concepts.dataset_fingerprint = literals.dataset_fingerprint
    and concepts.concept = literals.concept
left join concept_lineage as lineage
    on lineage.dataset_fingerprint = (select dataset_fingerprint from run_info)
    and lineage.concept = logits.class_name
    and lineage.related = literals.concept
where lineage.relation is null
order by logits.neuron, literals.concept, literals.negated
