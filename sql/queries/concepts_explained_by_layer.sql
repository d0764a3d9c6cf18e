-- Answers: where in the network each concept is explained: how many neurons of each layer have a
--   significant best explanation that names the concept (as a non-negated literal).
-- Grain: one row per concept and layer with at least one such neuron, by concept then layer.
-- Parameters:
--   run (run): the run, by run id or model version (the latest run of that version).
--   max_q_value (double, default 0.05): a best explanation is significant when its effective
--     q-value (held-out when the run has one) is below this.

select literals.concept, literals.layer, count(*) as n_neurons
from best_literals as literals
where literals.run_id = $run and not literals.negated and literals.effective_q_value < $max_q_value
group by literals.concept, literals.layer
order by literals.concept, literals.layer
