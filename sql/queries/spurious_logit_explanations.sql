-- Answers: which class outputs (logits) are explained by a formula that uses a concept outside
--   the class's own hierarchy (not the class, one of its ancestors or descendants), such as
--   `bag | watermark` for the class bag: the model's score for the class follows that concept.
-- Grain: one row per logit neuron and distinct literal of its best explanation whose concept is
--   outside the class's hierarchy.
-- Parameters:
--   run (run): the run, by run id or model version (the latest run of that version).
--   max_q_value (double, default 0.05): only significant explanations (effective q-value below
--     this) are judged.

select
    classes.class_name,
    layer,
    neuron,
    literals.formula,
    literals.auc,
    literals.effective_q_value,
    literals.concept,
    literals.negated,
    literals.concept_kind
from best_literals as literals
join neurons as classes using (run_id, layer, neuron)
where literals.run_id = $run
    and classes.class_name is not null
    and literals.effective_q_value < $max_q_value
    and not in_class_lineage(literals.dataset_fingerprint, classes.class_name, literals.concept)
order by literals.neuron, literals.concept, literals.negated
