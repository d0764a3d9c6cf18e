-- Answers: which concepts the dataset of a run has: their kind, depth in the hierarchy, number
--   of positive samples and description.
-- Grain: one row per concept of the run's dataset, by concept id.
-- Parameters:
--   run (run): the run, by run id or model version (the latest run of that version).

with run_dataset as (
    select dataset_fingerprint
    from runs
    where run_id = $run
)

select concepts.concept_id, concepts.concept, concepts.kind, concepts.depth, concepts.n_pos, concepts.description
from concepts
join run_dataset using (dataset_fingerprint)
order by concepts.concept_id
