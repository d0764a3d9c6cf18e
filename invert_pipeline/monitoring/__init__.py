"""What a run shows in the Prefect UI: progress, a table per layer, the summary, the report link, the
regression gate's artifact and event; and, in a terminal, progress bars.

Plain functions called by the flow ``explain_model`` and its stages: artifacts and events belong to
the flow run that creates them, and none of these takes part in caching, so a cached rerun shows
and announces again. :mod:`~invert_pipeline.monitoring.summary` builds the summary's markdown without
Prefect; the other modules publish through Prefect.
"""
