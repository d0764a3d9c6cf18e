-- Answers: which neurons strongly feed a class (among its top_k largest positive weights into
--   the class's logit) while their significant best explanation has nothing to do with the
--   class: no literal of the formula names the class, one of its ancestors or one of its
--   descendants. A watermark neuron feeding the class "bag" is such a shortcut.
-- Grain: one row per class and feeding neuron, strongest weight first within a class; its
--   unrelated_concepts are the formula's non-negated concepts (what the neuron follows), with
--   their kinds in unrelated_kinds (a class, an ancestor, an attribute, an annotation), and
--   class_auc the largest AUC of the class's logit for one of them.
-- Parameters:
--   run (run): the run, by run id or model version (the latest run of that version).
--   top_k (integer, default 5): how many of each class's strongest feeding neurons to examine.
--   max_q_value (double, default 0.05): only significant explanations (effective q-value below
--     this) are judged; a neuron without one says nothing about what the class relies on.
--   class_name (class, default null): examine only this class; null examines every class.
--   min_class_auc (double, default 0.6): the class's own logit must follow one of the neuron's
--     unrelated concepts with at least this AUC (class_auc): a neuron that follows a concept the
--     class's score does not (a stamp-sensitive neuron whose class ignores stamps) is no shortcut.

with judged as (
    select class_name, source_layer, source_neuron, weight, weight_rank, formula, auc, effective_q_value
    from class_inputs
    where run_id = $run
        and ($class_name is null or class_name = $class_name)
        and weight_rank <= $top_k
        and effective_q_value < $max_q_value
),

literals_vs_class as (
    select
        judged.class_name,
        judged.source_layer,
        judged.source_neuron,
        literals.concept,
        literals.negated,
        literals.concept_kind,
        in_class_lineage(literals.dataset_fingerprint, judged.class_name, literals.concept) as is_related
    from judged
    join best_literals as literals
        on literals.run_id = $run
        and literals.layer = judged.source_layer
        and literals.neuron = judged.source_neuron
),

unrelated as (
    select
        class_name,
        source_layer,
        source_neuron,
        string_agg(
            case when negated then '~' else '' end || concept, ', ' order by concept, negated
        ) as unrelated_literals,
        list(concept order by concept) filter (where not negated) as unrelated_concepts,
        list(concept_kind order by concept) filter (where not negated) as unrelated_kinds
    from literals_vs_class
    group by all
    having not bool_or(is_related)
),

unrelated_concept as (
    select class_name, source_layer, source_neuron, unnest(unrelated_concepts) as concept
    from unrelated
),

class_follows as (
    select
        unrelated_concept.class_name,
        unrelated_concept.source_layer,
        unrelated_concept.source_neuron,
        max(scores.auc) as class_auc
    from unrelated_concept
    join neurons as classes
        on classes.run_id = $run
        and classes.class_name = unrelated_concept.class_name
    join atomic_scores as scores
        on scores.run_id = $run
        and scores.layer = classes.layer
        and scores.neuron = classes.neuron
        and scores.concept = unrelated_concept.concept
    group by all
)

select
    judged.class_name,
    judged.source_layer,
    judged.source_neuron,
    judged.weight,
    judged.weight_rank,
    judged.formula,
    judged.auc,
    judged.effective_q_value,
    unrelated.unrelated_literals,
    unrelated.unrelated_concepts,
    unrelated.unrelated_kinds,
    class_follows.class_auc
from judged
join unrelated using (class_name, source_layer, source_neuron)
join class_follows using (class_name, source_layer, source_neuron)
where class_follows.class_auc >= $min_class_auc
order by judged.class_name, judged.weight_rank
