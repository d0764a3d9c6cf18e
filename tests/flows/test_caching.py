"""Tests of tasks.caching: cache keys from content, results kept in the workspace."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from prefect import task

from invert_pipeline.specs import SearchParams
from invert_pipeline.workspace import atomic_write_text
from tasks.caching import RESULTS_FOLDER, ContentKey, code_version, in_workspace

CONTEXT = SimpleNamespace(task=SimpleNamespace(name="search layer"))


@task(cache_policy=ContentKey(modules=("invert_pipeline.workspace",)))
def _echo(value: str) -> str:
    return value


def _key(policy: ContentKey, **inputs) -> str:
    return policy.compute_key(CONTEXT, inputs, {})


class TestContentKey:
    def test_same_inputs_same_key(self):
        """Equal specs (distinct objects) and paths give the same key."""
        policy = ContentKey(modules=("invert_pipeline.workspace",))
        first = _key(policy, params=SearchParams(beam=4), layer_dir=Path("/w/activations/k/conv1"))
        second = _key(policy, params=SearchParams(beam=4), layer_dir="/w/activations/k/conv1")
        assert first == second

    def test_changed_parameter_changes_key(self):
        """A search parameter that differs gives another key."""
        policy = ContentKey(modules=("invert_pipeline.workspace",))
        assert _key(policy, params=SearchParams(beam=4)) != _key(policy, params=SearchParams(beam=5))

    def test_task_name_is_part_of_key(self):
        """Two tasks with the same inputs do not share a cache entry."""
        policy = ContentKey()
        other = SimpleNamespace(task=SimpleNamespace(name="join neuron chunks"))
        assert policy.compute_key(CONTEXT, {"a": 1}, {}) != policy.compute_key(other, {"a": 1}, {})

    def test_ignored_inputs_left_out(self):
        """An ignored input (a timestamp) does not change the key; the others still do."""
        policy = ContentKey(ignore=("started_at",))
        assert _key(policy, run="a", started_at="10:00") == _key(policy, run="a", started_at="11:00")
        assert _key(policy, run="a", started_at="10:00") != _key(policy, run="b", started_at="10:00")

    def test_code_version_is_part_of_key(self):
        """The key depends on which modules' code the task runs."""
        assert _key(ContentKey(modules=("tasks.caching",)), a=1) != _key(ContentKey(modules=("invert_pipeline.workspace",)), a=1)
        assert code_version(["tasks.caching"]) != code_version(["invert_pipeline.workspace"])


class TestInWorkspace:
    def test_results_persisted_in_workspace(self, tmp_path):
        """The task's results go to <workspace>/.prefect/results."""
        configured = in_workspace(_echo, tmp_path)
        assert configured.result_storage == tmp_path.resolve() / RESULTS_FOLDER
        assert configured.refresh_cache is None

    def test_missing_output_forces_recompute(self, tmp_path):
        """A deleted output makes the task run again instead of returning a path to nothing."""
        present = atomic_write_text("x", tmp_path / "present.parquet")
        assert in_workspace(_echo, tmp_path, outputs=[present]).refresh_cache is None
        assert in_workspace(_echo, tmp_path, outputs=[present, tmp_path / "gone.parquet"]).refresh_cache is True
        assert in_workspace(_echo, tmp_path, outputs_complete=False).refresh_cache is True

    def test_damaged_output_forces_recompute(self, tmp_path, caplog):
        """An output whose bytes differ from its digest record counts as missing, with a warning naming it."""
        present = atomic_write_text("complete", tmp_path / "present.parquet")
        present.write_text("changed!")  # same size, other bytes
        assert in_workspace(_echo, tmp_path, outputs=[present]).refresh_cache is True
        assert "present.parquet is damaged (its bytes differ from the digest recorded" in caplog.text


# Modules that decide no result: where and how files are written, the specs whose values (not code)
# enter the keys as inputs, and the "did you mean" of error messages.
INFRASTRUCTURE = {"invert_pipeline.workspace", "invert_pipeline.faults", "invert_pipeline.temporaries", "invert_pipeline.specs",
                  "invert_pipeline.suggestions"}


def _pipeline_imports(modules: tuple[str, ...]) -> set[str]:
    """The ``invert_pipeline`` modules the listed modules import, transitively (a package: all its modules)."""
    from tests.test_architecture import MODULES

    def members(name: str) -> set[str]:
        return {module for module in MODULES if module == name or module.startswith(f"{name}.")}

    seen: set[str] = set()
    todo = [member for name in modules for member in members(name)]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        todo += [name for name in MODULES.get(module, ()) if name in MODULES and name.startswith("invert_pipeline")]
    return seen


class TestCodeInKeys:
    """Each cache key hashes the code that decides its result, and only that code."""

    def test_search_key_hashes_no_extraction_or_dataset_preparation(self):
        """An edit to how activations are computed or datasets prepared leaves search results cached:
        the search reads their files through the file modules only."""
        from tasks.explain_layers import SEARCH_CODE

        imported = _pipeline_imports(SEARCH_CODE)
        for module in ("invert_pipeline.extraction", "invert_pipeline.datasets", "invert_pipeline.models"):
            assert module not in SEARCH_CODE and module not in imported, module

    def test_every_deciding_module_is_in_its_key(self):
        """What a task's code imports from the pipeline is in its key, or decides nothing (or enters the key
        through an input's fingerprint: the dataset's code through the dataset fingerprint)."""
        from tasks.activations import EXTRACTION_CODE, MODEL_CODE
        from tasks.explain_layers import SEARCH_CODE
        from tasks.ingest import DATASET_CODE

        dataset_fingerprinted = {"invert_pipeline.datasets", "invert_pipeline.concepts", "invert_pipeline.hierarchy",
                                 "invert_pipeline.image_folders", "invert_pipeline.dataset_files"}
        for code, fingerprinted in [
            (SEARCH_CODE, set()),
            (MODEL_CODE, set()),
            (EXTRACTION_CODE, dataset_fingerprinted),
            (DATASET_CODE, {"invert_pipeline.dataset_files"}),
        ]:
            listed = {module for module in _pipeline_imports(code) if any(module.startswith(name) for name in code)}
            missing = _pipeline_imports(code) - listed - INFRASTRUCTURE - fingerprinted
            assert not missing, f"{code} runs {sorted(missing)} without hashing it"
