-- Answers: the model's version explained before a run: the latest run that finished earlier, of the
--   same model name on the same dataset with other weights (the one the regression gate compares with).
-- Grain: one row per earlier version: at most one, the latest (none when the model was not explained before).
-- Parameters:
--   run (run): the run, by run id or model version (the latest run of that version).

select previous.run_id, previous.model_version, previous.finished_at
from runs as current
join runs as previous
    on previous.model_name = current.model_name
    and previous.dataset_fingerprint = current.dataset_fingerprint
    and previous.model_fingerprint <> current.model_fingerprint
    and previous.finished_at < current.finished_at
where current.run_id = $run
order by previous.finished_at desc, previous.run_id
limit 1
