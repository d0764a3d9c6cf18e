-- Answers: between two runs, which concepts the later run explains that the earlier one did
--   not (gained) and which it no longer explains (lost). A concept is explained by a run when a
--   significant best explanation of any of its neurons names it as a non-negated literal.
-- Grain: one row per concept explained in exactly one of the two runs.
-- Parameters:
--   run_a (run): the earlier run, by run id or model version.
--   run_b (run): the later run, by run id or model version.
--   max_q_value (double, default 0.05): a best explanation is significant when its effective
--     q-value (held-out when the run has one) is below this.

with explained as (
    select
        literals.run_id,
        literals.concept,
        literals.layer,
        literals.neuron
    from best_literals as literals
    where literals.run_id in ($run_a, $run_b)
        and not literals.negated
        and literals.effective_q_value < $max_q_value
),

per_run as (
    select
        explained.concept,
        count(*) filter (where explained.run_id = $run_a) as n_neurons_a,
        count(*) filter (where explained.run_id = $run_b) as n_neurons_b,
        string_agg(distinct explained.layer, ', ' order by explained.layer)
            filter (where explained.run_id = $run_a) as layers_a,
        string_agg(distinct explained.layer, ', ' order by explained.layer)
            filter (where explained.run_id = $run_b) as layers_b
    from explained
    group by explained.concept
)

select
    concept,
    case when n_neurons_a = 0 then 'gained' else 'lost' end as change,
    n_neurons_a,
    n_neurons_b,
    layers_a,
    layers_b
from per_run
where n_neurons_a = 0 or n_neurons_b = 0
order by change, concept
