"""Serve explain_model without a work pool: a cron schedule and a ``model.retrained`` trigger.

    python deployments/serve.py --model invert_pipeline.demo.model:fashion_cnn --weights CKPT \
        --layers conv1 conv2 conv3 fc logits [--cron "0 3 * * *"] [--workspace DIR]

Same as ``invert serve`` (same options): registers ``explain-model-scheduled-served`` and
``explain-model-on-retrain-served`` (see :func:`flows.serving.build_deployments`) with the Prefect
server at ``PREFECT_API_URL`` and runs their flow runs in subprocesses until interrupted. The
work-pool deployments of ``prefect.yaml`` (``...-work-pool``) are other deployments: serving never
changes or pauses them.
"""

from __future__ import annotations

import sys

from invert_pipeline.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
