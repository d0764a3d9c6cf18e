"""The README's "Bring your own model and data" section, run as written on a generated image folder.

The section's Python block is saved as ``my_models.py`` and its shell commands run one by one with
``bash`` in a fresh folder (on no PYTHONPATH), with the virtual environment's ``invert`` and ``python`` first on PATH,
Hugging Face offline and a Prefect home of the test's own; the image folder (two classes in
subfolders, a ``metadata.csv`` with a boolean ``striped`` column) is generated, since the README's
stands for the reader's images.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from invert_pipeline.warehouse import DEFAULT_DB_NAME, run_sql

REPO = Path(__file__).resolve().parents[2]
SECTION_START = "### Bring your own model and data"
SECTION_END = "**Scaling out.**"
COMMAND_TIMEOUT_S = 300


def readme_blocks() -> list[tuple[str, str]]:
    """(language, code) of each fenced block of the section, in order."""
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index(SECTION_START):readme.index(SECTION_END)]
    return re.findall(r"```(\w*)\n(.*?)```", section, flags=re.S)


def shell_commands(blocks: list[tuple[str, str]]) -> list[str]:
    """Every command of the section's bash blocks, with backslash continuations joined."""
    text = "\n".join(code for language, code in blocks if language == "bash")
    return [line for line in text.replace("\\\n", " ").splitlines() if line.strip()]


def write_image_folder(root: Path, rng: np.random.Generator) -> None:
    """``my-images/``: 16 circles and 16 squares (20x20 grayscale PNGs), every other one striped."""
    rows = ["file_name,striped"]
    for shape in ("circle", "square"):
        (root / shape).mkdir(parents=True)
        for index in range(16):
            y, x = np.mgrid[:20, :20]
            inside = (np.hypot(y - 10, x - 10) < 7) if shape == "circle" else (np.maximum(abs(y - 10), abs(x - 10)) < 6)
            striped = index % 2 == 1
            pixels = np.where(inside, 200, 30) + rng.integers(0, 20, size=(20, 20))
            if striped:
                pixels = np.where(y % 4 < 2, pixels, 0)
            Image.fromarray(pixels.astype(np.uint8), mode="L").save(root / shape / f"{index}.png")
            rows.append(f"{shape}/{index}.png,{'true' if striped else 'false'}")
    (root / "metadata.csv").write_text("\n".join(rows) + "\n")


def test_readme_bring_your_own_model_section_runs_as_written(tmp_path):
    blocks = readme_blocks()
    python_blocks = [code for language, code in blocks if language == "python"]
    assert len(python_blocks) == 1 and python_blocks[0].startswith("# my_models.py")
    (tmp_path / "my_models.py").write_text(python_blocks[0])
    write_image_folder(tmp_path / "my-images", np.random.default_rng(0))
    env = {  # PYTHONPATH only as this process has it (the code under test): none to the section's folder
        key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")
    } | {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1",
        "PREFECT_HOME": str(tmp_path / "prefect-home"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    outputs = []
    for command in shell_commands(blocks):
        done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT_S)
        assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        outputs.append(done.stdout)
    layers, explain, report = outputs[1], outputs[2], outputs[3]
    assert "conv" in layers and "logits" in layers
    assert "Neurons with a significant explanation" in explain and "Spurious findings" in explain
    assert "\nNext\n  invert query" in explain
    concepts = run_sql(tmp_path / "my-workspace" / DEFAULT_DB_NAME, "select concept, kind from concepts order by concept")
    assert concepts.to_pylist() == [
        {"concept": "circle", "kind": "class"}, {"concept": "square", "kind": "class"},
        {"concept": "striped", "kind": "attribute"},
    ]
    lengths = run_sql(
        tmp_path / "my-workspace" / DEFAULT_DB_NAME,
        "select layer, max(length) as longest from explanations group by layer order by layer",
    ).to_pylist()
    assert {row["layer"]: row["longest"] for row in lengths}["logits"] == 1  # --length logits=1
    index = Path(report.split("report: ", 1)[1].strip())
    assert index.is_file() and index.parent.parent == (tmp_path / "my-workspace" / "reports").resolve()
