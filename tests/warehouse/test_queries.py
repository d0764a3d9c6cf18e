"""Every named query of sql/queries against answers worked out by hand from the tiny workspace.

The derivations refer to the fixture described in conftest.py: significant means an effective
q-value (held-out when present, so only run v2's conv1) below 0.05.
"""

from __future__ import annotations

import pytest

from invert_pipeline.warehouse import run_named_query


def rows(table, *columns):
    """The table's rows as tuples of the given columns."""
    return list(zip(*(table.column(name).to_pylist() for name in columns), strict=True))


def query(workspace, name, **params):
    return run_named_query(workspace.db_path, name, params)


def test_runs_overview(shared_warehouse):
    """Both runs, newest first: 3 explained layers, 11 neurons, 10 significant best explanations each."""
    table = query(shared_warehouse, "runs_overview")
    assert rows(table, "run_id", "model_version", "n_layers", "n_neurons", "n_significant") == [
        ("run-v2", "v2", 3, 11, 10),
        ("run-v1", "v1", 3, 11, 10),
    ]


def test_significant_neurons_by_layer_uses_heldout_q(shared_warehouse):
    """v2 conv1 neuron 2 (q 0.04, held-out q 0.20) is explained but not significant."""
    table = query(shared_warehouse, "significant_neurons_by_layer", run="v2")
    assert rows(table, "layer", "n_neurons", "n_explained", "n_significant") == [
        ("conv1", 3, 3, 2),
        ("fc", 4, 4, 4),
        ("logits", 4, 4, 4),
    ]
    assert table.column("share_significant").to_pylist() == pytest.approx([2 / 3, 1.0, 1.0])
    assert table.column("mean_significant_auc").to_pylist() == pytest.approx(
        [(0.78 + 0.92) / 2, (0.90 + 0.95 + 0.87 + 0.81) / 4, (0.96 + 0.95 + 0.94 + 0.97) / 4]
    )


def test_significant_neurons_by_layer_counts_unexplained_neurons(shared_warehouse):
    """v1 conv1 neuron 2 has no explanation: 2 of 3 explained."""
    table = query(shared_warehouse, "significant_neurons_by_layer", run="run-v1")
    assert rows(table, "layer", "n_explained", "n_significant") == [
        ("conv1", 2, 2),
        ("fc", 4, 4),
        ("logits", 4, 4),
    ]


def test_hierarchy_depth_by_layer_v1(shared_warehouse):
    """v1: conv1 footwear(1), artifact(0); fc 2, 1, 1, (1+2)/2; logits 1, 2, (2+2)/2, 1."""
    table = query(shared_warehouse, "hierarchy_depth_by_layer", run="v1")
    assert rows(table, "layer", "n_significant", "n_with_depth", "min_depth", "max_depth") == [
        ("conv1", 2, 2, 0, 1),
        ("fc", 4, 4, 1, 2),
        ("logits", 4, 4, 1, 2),
    ]
    assert table.column("mean_depth").to_pylist() == pytest.approx([0.5, 5.5 / 4, 1.5])
    assert table.column("mean_length").to_pylist() == pytest.approx([1.0, 1.5, 1.25])


def test_hierarchy_depth_by_layer_leaves_out_attributes(shared_warehouse):
    """v2: watermark has no depth, so conv1 and fc count one neuron less with a depth."""
    table = query(shared_warehouse, "hierarchy_depth_by_layer", run="v2")
    assert rows(table, "layer", "n_significant", "n_with_depth") == [
        ("conv1", 2, 1),
        ("fc", 4, 3),
        ("logits", 4, 4),
    ]
    assert table.column("mean_depth").to_pylist() == pytest.approx([1.0, 4 / 3, 1.5])


def test_class_feeding_neurons_places_concepts_in_the_hierarchy(shared_warehouse):
    """v1 sandal is fed by fc3 (footwear & sandal: ancestor, same) then fc0 (sneaker: a sibling)."""
    table = query(shared_warehouse, "class_feeding_neurons", run="v1", class_name="sandal")
    assert rows(
        table, "source_neuron", "weight_rank", "concept", "negated", "relation_to_class", "hierarchy_distance"
    ) == [
        (3, 1, "footwear", False, "ancestor", 1),
        (3, 1, "sandal", False, "same", 0),
        (0, 2, "sneaker", False, "unrelated", None),
    ]
    assert table.column("weight").to_pylist() == pytest.approx([2.0, 2.0, 0.4])


def test_class_feeding_neurons_top_k(shared_warehouse):
    """v2 bag: its two positive weights, watermark neuron fc1 (3.0) first; top_k=1 keeps only it."""
    both = query(shared_warehouse, "class_feeding_neurons", run="v2", class_name="bag")
    assert rows(both, "source_neuron", "formula", "concept_kind", "relation_to_class") == [
        (1, "watermark", "attribute", "unrelated"),
        (3, "bag", "class", "same"),
    ]
    first = query(shared_warehouse, "class_feeding_neurons", run="v2", class_name="bag", top_k=1)
    assert rows(first, "source_neuron") == [(1,)]


def test_unexplained_concepts(shared_warehouse):
    """v1 explains watermark only negated; v2 explains everything but artifact."""
    v1 = query(shared_warehouse, "unexplained_concepts", run="v1")
    assert rows(v1, "concept", "kind", "best_atomic_layer", "best_atomic_neuron") == [
        ("watermark", "attribute", "conv1", 2)
    ]
    assert v1.column("best_atomic_auc").to_pylist() == pytest.approx([0.71])
    v2 = query(shared_warehouse, "unexplained_concepts", run="v2")
    assert rows(v2, "concept", "depth", "best_atomic_layer", "best_atomic_neuron") == [
        ("artifact", 0, "fc", 3)
    ]


def test_unexplained_concepts_with_a_strict_threshold(shared_warehouse):
    """At q < 0.005 v1 loses artifact (q 0.01) and fc3's footwear & sandal (q 0.02), not sandal (logits)."""
    table = query(shared_warehouse, "unexplained_concepts", run="v1", max_q_value=0.005)
    assert [row[0] for row in rows(table, "concept")] == ["artifact", "watermark"]


def test_spurious_class_features_v2_finds_the_watermark_neuron(shared_warehouse):
    """v2, top 2 per class: watermark neuron fc1 feeds bag; sneaker neuron fc0 feeds sandal (a sibling)."""
    table = query(shared_warehouse, "spurious_class_features", run="v2", top_k=2)
    assert rows(
        table, "class_name", "source_layer", "source_neuron", "weight_rank", "unrelated_literals"
    ) == [
        ("bag", "fc", 1, 1, "watermark"),
        ("sandal", "fc", 0, 1, "sneaker"),
    ]
    assert table.column("weight").to_pylist() == pytest.approx([3.0, 0.9])
    assert table.column("class_auc").to_pylist() == pytest.approx([0.93, 0.7])


def test_spurious_class_features_needs_the_class_to_follow_the_concept(shared_warehouse):
    """With min_class_auc above the bag logit's 0.93 for watermark, the watermark neuron is no shortcut."""
    table = query(shared_warehouse, "spurious_class_features", run="v2", top_k=2, min_class_auc=0.95)
    assert rows(table, "class_name") == []


def test_spurious_class_features_v1_has_no_watermark(shared_warehouse):
    """v1, top 2 per class: only the sneaker neuron feeding sandal; none at top 1."""
    table = query(shared_warehouse, "spurious_class_features", run="v1", top_k=2)
    assert rows(table, "class_name", "source_neuron", "weight_rank", "formula") == [
        ("sandal", 0, 2, "sneaker")
    ]
    assert query(shared_warehouse, "spurious_class_features", run="v1", top_k=1).num_rows == 0


def test_spurious_class_features_one_class(shared_warehouse):
    """class_name restricts the answer to that class."""
    table = query(shared_warehouse, "spurious_class_features", run="v2", class_name="bag")
    assert rows(table, "class_name", "source_neuron") == [("bag", 1)]


def test_spurious_logit_explanations(shared_warehouse):
    """v2: ~watermark in T-shirt/top's logit and watermark in bag's; v1: sandal in sneaker's."""
    v2 = query(shared_warehouse, "spurious_logit_explanations", run="v2")
    assert rows(v2, "class_name", "neuron", "concept", "negated", "concept_kind") == [
        ("T-shirt/top", 0, "watermark", True, "attribute"),
        ("bag", 3, "watermark", False, "attribute"),
    ]
    v1 = query(shared_warehouse, "spurious_logit_explanations", run="v1")
    assert rows(v1, "class_name", "formula", "concept") == [("sneaker", "sneaker | sandal", "sandal")]


def test_neurons_explained_by_concept_all_runs(shared_warehouse):
    """watermark, non-negated: v2 conv1/1, fc/1 (feeding bag with 3.0), logits/3."""
    table = query(shared_warehouse, "neurons_explained_by_concept", concept="watermark")
    assert rows(table, "run_id", "layer", "neuron", "class_name", "strongest_target") == [
        ("run-v2", "conv1", 1, None, None),
        ("run-v2", "fc", 1, None, "bag"),
        ("run-v2", "logits", 3, "bag", None),
    ]
    assert table.column("strongest_weight").to_pylist()[1] == pytest.approx(3.0)


def test_neurons_explained_by_concept_negated_and_q(shared_warehouse):
    """Negated literals count when asked; at q < 5e-6 conv1/1 drops out (held-out q 1e-5, in-sample 1e-6)."""
    negated = query(
        shared_warehouse, "neurons_explained_by_concept", concept="watermark", run="v1", include_negated=True
    )
    assert rows(negated, "layer", "neuron", "negated", "strongest_target") == [("fc", 1, True, "bag")]
    strict = query(shared_warehouse, "neurons_explained_by_concept", concept="watermark", max_q_value=5e-6)
    assert rows(strict, "layer", "neuron") == [("fc", 1), ("logits", 3)]


def test_run_diff_explanations(shared_warehouse):
    """Seven neurons changed formula or appeared between v1 and v2; the others kept theirs."""
    table = query(shared_warehouse, "run_diff_explanations", run_a="v1", run_b="v2")
    assert rows(table, "layer", "neuron", "change", "formula_a", "formula_b") == [
        ("conv1", 1, "changed", "artifact", "watermark"),
        ("conv1", 2, "added", None, "sneaker"),
        ("fc", 1, "changed", "bag & ~watermark", "watermark"),
        ("fc", 3, "changed", "footwear & sandal", "bag"),
        ("logits", 0, "changed", '"T-shirt/top"', '"T-shirt/top" & ~watermark'),
        ("logits", 2, "changed", "sneaker | sandal", "sneaker"),
        ("logits", 3, "changed", "bag", "bag | watermark"),
    ]
    assert table.column("auc_change").to_pylist()[0] == pytest.approx(0.32)


def test_run_diff_explanations_reversed(shared_warehouse):
    """Swapping the runs turns the added neuron into a removed one."""
    table = query(shared_warehouse, "run_diff_explanations", run_a="v2", run_b="v1")
    assert ("conv1", 2, "removed") in rows(table, "layer", "neuron", "change")


def test_run_diff_auc(shared_warehouse):
    """Moves of at least 0.03: conv1/1 +0.32, fc/3 +0.11, fc/1 +0.10, largest first."""
    table = query(shared_warehouse, "run_diff_auc", run_a="v1", run_b="v2", min_abs_change=0.03)
    assert rows(table, "layer", "neuron", "formula_changed") == [
        ("conv1", 1, True),
        ("fc", 3, True),
        ("fc", 1, True),
    ]
    assert table.column("auc_change").to_pylist() == pytest.approx([0.32, 0.11, 0.10])
    assert query(shared_warehouse, "run_diff_auc", run_a="v1", run_b="v2").num_rows == 10


def test_run_diff_concepts(shared_warehouse):
    """v2 gains watermark (3 neurons in 3 layers) and loses artifact."""
    table = query(shared_warehouse, "run_diff_concepts", run_a="v1", run_b="v2")
    assert rows(table, "concept", "change", "n_neurons_a", "n_neurons_b", "layers_a", "layers_b") == [
        ("watermark", "gained", 0, 3, None, "conv1, fc, logits"),
        ("artifact", "lost", 1, 0, "conv1", None),
    ]


def test_run_details(shared_warehouse):
    """v2 names its run: model tiny-cnn v2 on the dataset tiny, completed."""
    table = query(shared_warehouse, "run_details", run="v2")
    assert rows(table, "run_id", "model_name", "model_version", "dataset_name", "dataset_fingerprint", "status") == [
        ("run-v2", "tiny-cnn", "v2", "tiny", "d" * 32, "completed"),
    ]


def test_neuron_best_explanations_in_network_order(shared_warehouse):
    """v1: the rank-0 rows of the 10 explained neurons (conv1 neuron 2 has none), logits with their class."""
    table = query(shared_warehouse, "neuron_best_explanations", run="v1")
    assert rows(table, "layer", "neuron", "class_name", "formula") == [
        ("conv1", 0, None, "footwear"),
        ("conv1", 1, None, "artifact"),
        ("fc", 0, None, "sneaker"),
        ("fc", 1, None, "bag & ~watermark"),
        ("fc", 2, None, '"T-shirt/top"'),
        ("fc", 3, None, "footwear & sandal"),
        ("logits", 0, "T-shirt/top", '"T-shirt/top"'),
        ("logits", 1, "sandal", "sandal"),
        ("logits", 2, "sneaker", "sneaker | sandal"),
        ("logits", 3, "bag", "bag"),
    ]
    assert table.column("heldout_auc").null_count == 10


def test_neuron_best_explanations_carry_the_heldout_figures(shared_warehouse):
    """v2 conv1 has held-out columns: its effective q is the held-out one (neuron 2: 0.20)."""
    table = query(shared_warehouse, "neuron_best_explanations", run="v2")
    conv1 = [row for row in table.to_pylist() if row["layer"] == "conv1"]
    assert [row["heldout_auc"] for row in conv1] == pytest.approx([0.73, 0.87, 0.55])
    assert [row["effective_q_value"] for row in conv1] == pytest.approx([0.002, 1e-5, 0.20])


def test_dataset_concepts(shared_warehouse):
    """The seven concepts of the run's dataset by id, with kind and depth (the attribute watermark has none)."""
    table = query(shared_warehouse, "dataset_concepts", run="v1")
    assert table.column("concept_id").to_pylist() == list(range(7))
    assert rows(table, "concept", "kind", "depth")[::3] == [
        ("artifact", "ancestor", 0), ("sandal", "class", 2), ("watermark", "attribute", None),
    ]


def test_concept_hierarchy_edges(shared_warehouse):
    """The five child -> parent links of the dataset, by name (upper case sorts first)."""
    table = query(shared_warehouse, "concept_hierarchy_edges", run="v2")
    assert rows(table, "child", "parent") == [
        ("T-shirt/top", "artifact"),
        ("bag", "artifact"),
        ("footwear", "artifact"),
        ("sandal", "footwear"),
        ("sneaker", "footwear"),
    ]


def test_concepts_explained_by_layer(shared_warehouse):
    """v1: negated literals (~watermark) do not count; `sneaker | sandal` counts for both concepts."""
    table = query(shared_warehouse, "concepts_explained_by_layer", run="v1")
    assert rows(table, "concept", "layer", "n_neurons") == [
        ("T-shirt/top", "fc", 1),
        ("T-shirt/top", "logits", 1),
        ("artifact", "conv1", 1),
        ("bag", "fc", 1),
        ("bag", "logits", 1),
        ("footwear", "conv1", 1),
        ("footwear", "fc", 1),
        ("sandal", "fc", 1),
        ("sandal", "logits", 2),
        ("sneaker", "fc", 1),
        ("sneaker", "logits", 1),
    ]


def test_concepts_explained_by_layer_uses_heldout_q(shared_warehouse):
    """v2: watermark in every layer; conv1 neuron 2 (`sneaker`, held-out q 0.20) does not count."""
    table = query(shared_warehouse, "concepts_explained_by_layer", run="v2")
    explained = rows(table, "concept", "layer", "n_neurons")
    assert [row for row in explained if row[0] == "watermark"] == [
        ("watermark", "conv1", 1), ("watermark", "fc", 1), ("watermark", "logits", 1),
    ]
    assert ("sneaker", "conv1", 1) not in explained
    strict = query(shared_warehouse, "concepts_explained_by_layer", run="v2", max_q_value=1e-7)
    assert {layer for _, layer, _ in rows(strict, "concept", "layer", "n_neurons")} == {"logits"}


def test_previous_version(shared_warehouse):
    """Both runs are tiny-cnn on the same dataset with other weights; v1 finished a day before v2."""
    assert rows(query(shared_warehouse, "previous_version", run="v2"), "run_id", "model_version") == [("run-v1", "v1")]
    assert query(shared_warehouse, "previous_version", run="v1").num_rows == 0


def test_top_explanations_by_layer(shared_warehouse):
    """Rank-0 explanations of run v1, highest AUC first within each layer in network order; top_n 2 keeps two a layer."""
    table = query(shared_warehouse, "top_explanations_by_layer", run="v1", top_n=2)
    assert rows(table, "layer", "neuron", "formula", "auc") == [
        ("conv1", 0, "footwear", 0.80),
        ("conv1", 1, "artifact", 0.60),
        ("fc", 0, "sneaker", 0.90),
        ("fc", 2, '"T-shirt/top"', 0.88),
        ("logits", 0, '"T-shirt/top"', 0.97),
        ("logits", 3, "bag", 0.96),
    ]
    assert query(shared_warehouse, "top_explanations_by_layer", run="v1").num_rows == 2 + 4 + 4
