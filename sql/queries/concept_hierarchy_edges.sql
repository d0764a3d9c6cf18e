-- Answers: the concept hierarchy of a run's dataset, as links from each concept to its parents,
--   by name.
-- Grain: one row per child-parent link of the run's dataset, by child then parent name.
-- Parameters:
--   run (run): the run, by run id or model version (the latest run of that version).

with run_dataset as (
    select dataset_fingerprint
    from runs
    where run_id = $run
)

select child.concept as child, parent.concept as parent
from concept_edges as edges
join run_dataset using (dataset_fingerprint)
join concepts as child
    on child.dataset_fingerprint = edges.dataset_fingerprint and child.concept_id = edges.child_id
join concepts as parent
    on parent.dataset_fingerprint = edges.dataset_fingerprint and parent.concept_id = edges.parent_id
order by child.concept, parent.concept
