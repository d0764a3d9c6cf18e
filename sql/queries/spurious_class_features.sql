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

with run_info as (
    select dataset_fingerprint
    from runs
    where run_id = $run
),

class_neurons as (
    select layer, neuron, class_name
    from neurons
    where run_id = $run
        and class_name is not null
        and ($class_name is null or class_name = $class_name)
),

feeding as (
    select
        class_neurons.class_name,
        influence.source_layer,
        influence.source_neuron,
        influence.weight,
        row_number() over (
            partition by class_neurons.class_name
            order by influence.weight desc, influence.source_layer, influence.source_neuron
        ) as weight_rank
    from neuron_influence as influence
    join class_neurons
        on class_neurons.layer = influence.target_layer
        and class_neurons.neuron = influence.target_neuron
    where influence.run_id = $run and influence.weight > 0
    qualify weight_rank <= $top_k
),

judged as (
    select
        feeding.*,
        best.formula,
        best.auc,
        best.effective_q_value
    from feeding
    join best_explanations as best
        on best.run_id = $run
        and best.layer = feeding.source_layer
        and best.neuron = feeding.source_neuron
    where best.effective_q_value < $max_q_value
),

literals_vs_class as (
    select
        judged.class_name,
        judged.source_layer,
        judged.source_neuron,
        literals.concept,
        literals.negated,
        concepts.kind as concept_kind,
        lineage.relation is not null as is_related
    from judged
    join explanation_concepts as literals
        on literals.run_id = $run
        and literals.layer = judged.source_layer
        and literals.neuron = judged.source_neuron
        and literals.rank = 0
    join concepts
        on concepts.dataset_fingerprint = literals.dataset_fingerprint
        and concepts.concept = literals.concept
    left join concept_lineage as lineage
        on lineage.dataset_fingerprint = (select dataset_fingerprint from run_info)
        and lineage.concept = judged.class_name
        and lineage.related = literals.concept
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
    join class_neurons
        on class_neurons.class_name = unrelated_concept.class_name
    join atomic_scores as scores
        on scores.run_id = $run
        and scores.layer = class_neurons.layer
        and scores.neuron = class_neurons.neuron
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
