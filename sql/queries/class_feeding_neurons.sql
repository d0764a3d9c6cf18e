-- Answers: for one class, which neurons feed its output most (largest positive weights of the
--   linear layer into the class's logit), what their best explanations are, and where each
--   concept of those explanations sits relative to the class in the concept hierarchy.
-- Grain: one row per feeding neuron and distinct literal of its best explanation (one row with
--   null concept columns for a feeding neuron that has no explanation), strongest weight first.
-- Parameters:
--   run (run): the run, by run id or model version (the latest run of that version).
--   class_name (class): the class, as the dataset names it.
--   top_k (integer, default 5): how many feeding neurons to keep.

with feeding as (
    select *
    from class_inputs
    where run_id = $run and class_name = $class_name and weight_rank <= $top_k
),

class_lineage as (
    select lineage.related, lineage.relation, lineage.distance
    from concept_lineage as lineage
    join runs on runs.dataset_fingerprint = lineage.dataset_fingerprint
    where runs.run_id = $run and lineage.concept = $class_name
)

select
    feeding.class_name,
    feeding.target_layer,
    feeding.source_layer,
    feeding.source_neuron,
    feeding.weight,
    feeding.weight_rank,
    feeding.formula,
    feeding.auc,
    feeding.effective_q_value,
    literals.concept,
    literals.negated,
    literals.concept_kind,
    literals.concept_depth,
    case
        when literals.concept is null then null
        else coalesce(class_lineage.relation, 'unrelated')
    end as relation_to_class,
    class_lineage.distance as hierarchy_distance
from feeding
left join best_literals as literals
    on literals.run_id = $run
    and literals.layer = feeding.source_layer
    and literals.neuron = feeding.source_neuron
left join class_lineage on class_lineage.related = literals.concept
order by feeding.weight_rank, literals.concept, literals.negated
