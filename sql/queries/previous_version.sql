-- Answers: the model's version explained before a run: the latest run created earlier, of the
--   same model name on the same dataset with other weights (the one the regression gate compares with).
--   Runs are ordered by their place in history (created_at, sequence, run_id), which no recompute moves.
-- Grain: one row per earlier version: at most one, the latest (none when the model was not explained before).
-- Parameters:
--   run (run): the run, by run id or model version (the latest run of that version).

select previous.run_id, previous.model_version, previous.created_at, previous.finished_at
from runs as current
join runs as previous
    on previous.model_name = current.model_name
    and previous.dataset_fingerprint = current.dataset_fingerprint
    and previous.model_fingerprint <> current.model_fingerprint
    and (previous.created_at, coalesce(previous.sequence, 0), previous.run_id)
        < (current.created_at, coalesce(current.sequence, 0), current.run_id)
where current.run_id = $run
order by previous.created_at desc, coalesce(previous.sequence, 0) desc, previous.run_id desc
limit 1
