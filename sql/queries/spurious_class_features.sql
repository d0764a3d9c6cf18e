-- Answers: which neurons strongly feed a class (among its top_k largest positive weights into
--   the class's logit) while their significant best explanation has nothing to do with the
--   class: no literal of the formula names the class, one of its ancestors or one of its
--   descendants. A watermark neuron feeding the class "bag" is such a shortcut.
-- Grain: one row per class and feeding neuron, strongest weight first within a class; its
--   unrelated_concepts are the formula's non-negated concepts (what the neuron follows) that the
--   class's own logit follows too (AUC at least min_class_auc), with their kinds in unrelated_kinds
--   (a class, an ancestor, an attribute, an annotation), and class_auc the largest of those AUCs.
-- Parameters:
--   run (run): the run, by run id or model version (the latest run of that version).
--   top_k (integer, default 5): how many of each class's strongest feeding neurons to examine.
--   max_q_value (double, default 0.05): only significant explanations (effective q-value below
--     this) are judged; a neuron without one says nothing about what the class relies on.
--   class_name (class, default null): examine only this class; null examines every class.
--   min_class_auc (double, default 0.6): a concept of the neuron counts only when the class's own
--     logit follows it with at least this AUC: a neuron that follows a concept the class's score
--     does not (a stamp-sensitive neuron whose class ignores stamps) relies on no stamp for that
--     class, even when the class follows another of the neuron's concepts.

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
    select class_name, source_layer, source_neuron, unnest(unrelated_concepts) as concept,
        unnest(unrelated_kinds) as concept_kind
    from unrelated
),

-- Each unrelated concept with the AUC of the class's own logit for it; only the concepts the class
-- follows count: a stamp-sensitive neuron feeding a class whose score ignores stamps relies on no stamp.
class_follows as (
    select
        unrelated_concept.class_name,
        unrelated_concept.source_layer,
        unrelated_concept.source_neuron,
        list(unrelated_concept.concept order by unrelated_concept.concept) as followed_concepts,
        list(unrelated_concept.concept_kind order by unrelated_concept.concept) as followed_kinds,
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
    where scores.auc >= $min_class_auc
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
    class_follows.followed_concepts as unrelated_concepts,
    class_follows.followed_kinds as unrelated_kinds,
    class_follows.class_auc
from judged
join unrelated using (class_name, source_layer, source_neuron)
join class_follows using (class_name, source_layer, source_neuron)
order by judged.class_name, judged.weight_rank
