-- Answers: for one class, which neurons feed its output most (largest positive weights of the
--   linear layer into the class's logit), what their best explanations are, and where each
--   concept of those explanations sits relative to the class in the concept hierarchy.
-- Grain: one row per feeding neuron and distinct literal of its best explanation (one row with
--   null concept columns for a feeding neuron that has no explanation), strongest weight first.
-- Parameters:
--   run (run): the run, by run id or model version (the latest run of that version).
--   class_name (class): the class, as the dataset names it.
--   top_k (integer, default 5): how many feeding neurons to keep.

with run_info as (
    select dataset_fingerprint
    from runs
    where run_id = $run
),

class_neurons as (
    select layer, neuron, class_name
    from neurons
    where run_id = $run and class_name = $class_name
),

feeding as (
    select
        class_neurons.class_name,
        influence.target_layer,
        influence.source_layer,
        influence.source_neuron,
        influence.weight,
        row_number() over (order by influence.weight desc, influence.source_layer, influence.source_neuron)
            as weight_rank
    from neuron_influence as influence
    join class_neurons
        on class_neurons.layer = influence.target_layer
        and class_neurons.neuron = influence.target_neuron
    where influence.run_id = $run and influence.weight > 0
    qualify weight_rank <= $top_k
),

class_lineage as (
    select lineage.related, lineage.relation, lineage.distance
    from concept_lineage as lineage
    join run_info on run_info.dataset_fingerprint = lineage.dataset_fingerprint
    where lineage.concept = $class_name
)

select
    feeding.class_name,
    feeding.target_layer,
    feeding.source_layer,
    feeding.source_neuron,
    feeding.weight,
    feeding.weight_rank,
    best.formula,
    best.auc,
    best.effective_q_value,
    literals.concept,
    literals.negated,
    concepts.kind as concept_kind,
    concepts.depth as concept_depth,
    case
        when literals.concept is null then null
        else coalesce(class_lineage.relation, 'unrelated')
    end as relation_to_class,
    class_lineage.distance as hierarchy_distance
from feeding
left join best_explanations as best
    on best.run_id = $run
    and best.layer = feeding.source_layer
    and best.neuron = feeding.source_neuron
left join explanation_concepts as literals
    on literals.run_id = $run
    and literals.layer = feeding.source_layer
    and literals.neuron = feeding.source_neuron
    and literals.rank = 0
left join concepts
    on concepts.dataset_fingerprint = literals.dataset_fingerprint
    and concepts.concept = literals.concept
left join class_lineage on class_lineage.related = literals.concept
order by feeding.weight_rank, literals.concept, literals.negated
