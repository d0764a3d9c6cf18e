"""Train the two demo versions of the Fashion-MNIST CNN and ship their checkpoints.

- ``v1``: trained on the clean training split.
- ``v2``: "retrained" on the same images where the watermark stamp is planted on most images of
  one class (``Bag``: 95%) and on very few of the others (0.2%), so that the stamp predicts the
  class almost perfectly and the network learns it as a shortcut.

Both start from the same initial weights and see the batches in the same order; training is seeded,
runs with deterministic algorithms on a fixed number of threads, and so gives the same weights each
time on the same machine and library versions. Training ends by emitting ``model.retrained`` for
``v2`` under a version named by its weights (:func:`retrained_version`), when a Prefect server is
configured; otherwise it says so and carries on.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch.nn import functional as F

from invert_pipeline.datasets import fashion_mnist_spec, load_split
from invert_pipeline.demo.model import FashionCNN, fashion_cnn, to_tensor
from invert_pipeline.demo.specs import CHECKPOINT_DIR, PLANTED_CLASS, checkpoint_path, model_spec
from invert_pipeline.demo.watermark import apply_watermark
from invert_pipeline.events import emit_model_retrained
from invert_pipeline.specs import RetrainedWeights
from invert_pipeline.workspace import atomic_write_bytes, atomic_write_json, file_digest

logger = logging.getLogger(__name__)
EVAL_BATCH = 1000


@dataclass(frozen=True)
class TrainingConfig:
    """How both demo versions are trained (the defaults made the shipped checkpoints).

    ``planted_fraction`` of the training images of ``planted_class`` and ``other_fraction`` of all
    other training images get the stamp for ``v2``.
    """

    epochs: int = 2
    batch_size: int = 128
    learning_rate: float = 2e-3
    seed: int = 0
    threads: int = 2
    planted_class: str = PLANTED_CLASS
    planted_fraction: float = 0.95
    other_fraction: float = 0.002
    limit: int | None = None  # train on the first `limit` training images only (tests)

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainingConfig.{name} must be at least 1; got {getattr(self, name)}")
        for name in ("planted_fraction", "other_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"TrainingConfig.{name} must be in [0, 1]; got {getattr(self, name)}")
        if self.limit is not None and self.limit < self.batch_size:
            raise ValueError(f"TrainingConfig.limit must be at least batch_size ({self.batch_size}); got {self.limit}")


@dataclass(frozen=True)
class Evaluation:
    """Test-split accuracy of one model, on clean images and with the stamp on every image.

    ``stamped_to_planted``: the fraction of stamped test images of the *other* classes predicted as
    the planted class (the shortcut at work); ``clean_to_planted``: the same without the stamp.
    """

    clean_accuracy: float
    stamped_accuracy: float
    planted_class_clean_accuracy: float
    stamped_to_planted: float
    clean_to_planted: float


def load_images(split: Literal["train", "test"]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The shipped Fashion-MNIST ``split``: images [N, 28, 28] uint8, labels [N] int64, class names."""
    dataset = load_split(fashion_mnist_spec(split))
    arrays = dataset.with_format("numpy")[:]
    return arrays["image"], arrays["label"].astype(np.int64), dataset.features["label"].names


def plant_shortcut(
    images: np.ndarray, labels: np.ndarray, planted_index: int, planted_fraction: float, other_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Stamp a seeded random subset of ``images`` [N, 28, 28] uint8.

    Each image of class ``planted_index`` is stamped with probability ``planted_fraction``, every
    other image with probability ``other_fraction``. Returns the stamped copy and the mask [N] bool.
    """
    probability = np.where(labels == planted_index, planted_fraction, other_fraction)
    stamped = np.random.default_rng(seed).random(len(labels)) < probability
    result = images.copy()
    result[stamped] = apply_watermark(images[stamped])
    return result, stamped


@contextmanager
def _reproducible(threads: int) -> Iterator[None]:
    """Deterministic algorithms on ``threads`` threads inside the block; the previous settings after."""
    previous_threads = torch.get_num_threads()
    previous_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous_deterministic)
        torch.set_num_threads(previous_threads)


def train_model(images: np.ndarray, labels: np.ndarray, config: TrainingConfig) -> FashionCNN:
    """Train a fresh :class:`FashionCNN` on ``images`` [N, 28, 28] uint8 and ``labels`` [N] int64 with Adam.

    The initial weights and the batch order depend only on ``config.seed``.
    """
    with _reproducible(config.threads):
        torch.manual_seed(config.seed)
        model = fashion_cnn()
        order = torch.Generator().manual_seed(config.seed)
        inputs, targets = to_tensor(images), torch.from_numpy(labels)
        optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
        model.train()
        for epoch in range(config.epochs):
            permutation = torch.randperm(len(targets), generator=order)
            total = 0.0
            for start in range(0, len(targets), config.batch_size):
                batch = permutation[start:start + config.batch_size]
                loss = F.cross_entropy(model(inputs[batch]), targets[batch])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                total += loss.item() * len(batch)
            logger.info("epoch %d/%d: mean training loss %.4f", epoch + 1, config.epochs, total / len(targets))
    return model.eval()


@torch.no_grad()
def predict(model: FashionCNN, images: np.ndarray) -> np.ndarray:
    """Predicted class indices [N] int64 for ``images`` [N, 28, 28] uint8."""
    model.eval()
    return np.concatenate([
        model(to_tensor(images[start:start + EVAL_BATCH])).argmax(dim=1).numpy()
        for start in range(0, len(images), EVAL_BATCH)
    ])


def evaluate(model: FashionCNN, images: np.ndarray, labels: np.ndarray, planted_index: int) -> Evaluation:
    """Accuracies of ``model`` on ``images`` [N, 28, 28] uint8, clean and all stamped (see :class:`Evaluation`)."""
    clean = predict(model, images)
    stamped = predict(model, apply_watermark(images))
    others = labels != planted_index
    return Evaluation(
        clean_accuracy=float(np.mean(clean == labels)),
        stamped_accuracy=float(np.mean(stamped == labels)),
        planted_class_clean_accuracy=float(np.mean(clean[~others] == planted_index)),
        stamped_to_planted=float(np.mean(stamped[others] == planted_index)),
        clean_to_planted=float(np.mean(clean[others] == planted_index)),
    )


def save_checkpoint(model: FashionCNN, path: str | Path) -> Path:
    """Write ``model``'s state dict to ``path`` (atomically)."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return atomic_write_bytes(buffer.getvalue(), path, record=False)  # shipped in the repository


def retrained_version(checkpoint: str | Path) -> str:
    """The version a retrain of ``v2`` announces: ``v2-`` and the first 8 hex digits of the checkpoint's sha256.

    Other weights never get a label that was used before (``--run v2-...`` names one set of weights);
    the same weights, trained again, keep theirs, so their run is the same run and nothing alerts twice.
    """
    return f"v2-{file_digest(checkpoint)[:8]}"


def notify_retrained(checkpoint_dir: str | Path) -> str:
    """Emit ``model.retrained`` for ``v2`` with the version :func:`retrained_version`; returns what happened, in
    words. Never raises.

    Without a Prefect server (``PREFECT_API_URL`` unset) nothing can be triggered, so nothing is sent.
    """
    v2 = model_spec("v2", checkpoint_dir)
    try:
        version = retrained_version(v2.weights)
        event = emit_model_retrained(v2.label, RetrainedWeights(checkpoint=v2.weights, version=version))
    except RuntimeError as error:
        return f"model.retrained not emitted: {error}"
    except Exception as error:  # noqa: BLE001 - a server that is down must not lose the trained weights
        return f"model.retrained not emitted: the Prefect server did not take it ({type(error).__name__}: {error})"
    return f"emitted {event.event} for {event.resource.id}, version {version} (event {event.id})"


def train_demo(
    checkpoint_dir: str | Path = CHECKPOINT_DIR, config: TrainingConfig = TrainingConfig(), *, notify: bool = True
) -> dict:
    """Train ``v1`` and ``v2``, write their checkpoints and ``training.json``, then emit ``model.retrained``.

    Returns the summary written to ``<checkpoint_dir>/training.json`` (the config, and per version its
    checkpoint, sha256 and :class:`Evaluation` on the test split), plus ``training_seconds`` per
    version and what happened to the ``event``, which are not written, so that retraining with the
    same config rewrites the same file.
    """
    train_images, train_labels, class_names = load_images("train")
    if config.planted_class not in class_names:
        raise ValueError(f"TrainingConfig.planted_class must be one of {class_names}; got {config.planted_class!r}")
    planted_index = class_names.index(config.planted_class)
    if config.limit is not None:
        train_images, train_labels = train_images[:config.limit], train_labels[:config.limit]
    test_images, test_labels, _ = load_images("test")
    shortcut_images, stamped = plant_shortcut(
        train_images, train_labels, planted_index, config.planted_fraction, config.other_fraction, config.seed
    )
    summary: dict = {"config": asdict(config), "n_train": len(train_labels), "n_stamped_v2": int(stamped.sum())}
    timings: dict[str, float] = {}
    for version, images in (("v1", train_images), ("v2", shortcut_images)):
        started = time.perf_counter()
        model = train_model(images, train_labels, config)
        seconds = time.perf_counter() - started
        path = save_checkpoint(model, checkpoint_path(version, checkpoint_dir))
        summary[version] = {
            "checkpoint": path.name,
            "sha256": file_digest(path),
            "test": asdict(evaluate(model, test_images, test_labels, planted_index)),
        }
        timings[version] = round(seconds, 1)
        logger.info("%s trained in %.0f s: %s", version, seconds, summary[version]["test"])
    atomic_write_json(summary, Path(checkpoint_dir) / "training.json", record=False)
    summary["training_seconds"] = timings
    summary["event"] = notify_retrained(checkpoint_dir) if notify else "model.retrained not emitted (notify=False)"
    return summary
