"""Fixtures of the model tests; puts this folder on sys.path so ``model_factories:...`` import paths resolve."""

from __future__ import annotations

import sys
from pathlib import Path

FACTORIES_DIR = Path(__file__).parent
if str(FACTORIES_DIR) not in sys.path:
    sys.path.insert(0, str(FACTORIES_DIR))
