"""The static HTML report of one or more runs: figures, explanations beside sample images, diffs.

``invert_pipeline.report.writer.write_report(db_path, workspace, run_ids, out_dir)`` writes
``out_dir/index.html`` and its PNG figures; ``invert report --run ID [--run ID2]`` calls it. The package
imports nothing itself, so that reading its ``html`` helpers or ``contents`` does not load matplotlib.
"""
