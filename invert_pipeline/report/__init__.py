"""The static HTML report of one or more runs: figures, explanations beside sample images, diffs.

``write_report(db_path, workspace, run_ids, out_dir)`` writes ``out_dir/index.html`` and its PNG
figures (see :mod:`invert_pipeline.report.writer`); ``invert report --run ID [--run ID2]`` calls it.
"""

from invert_pipeline.report.writer import write_report

__all__ = ["write_report"]
