-- Answers: what a run is: its model name, version and weights, its dataset, its status and times,
--   as a report's heading and overview show them.
-- Grain: one row per run: the run asked for.
-- Parameters:
--   run (run): the run, by run id or model version (the latest run of that version).

select
    run_id,
    model_name,
    model_version,
    model_fingerprint,
    dataset_name,
    dataset_fingerprint,
    status,
    started_at,
    finished_at,
    code_version,
    report_path
from runs
where run_id = $run
