"""Models: from a :class:`~invert_pipeline.specs.ModelSpec` to an ``nn.Module`` in eval mode.

Three kinds of ``ModelSpec.source``:

- a torchvision architecture name (``"resnet18"``, see ``torchvision.models.list_models()``), with
  ``weights`` a local checkpoint (a state dict), a torchvision weights enum name
  (``"ResNet18_Weights.IMAGENET1K_V1"``, or ``"IMAGENET1K_V1"`` / ``"DEFAULT"`` for the architecture)
  that is already in the torch hub cache, or ``None`` for the architecture's own random
  initialisation, seeded so that it is the same every time;
- an import path ``"package.module:factory"``: ``factory()`` returns an ``nn.Module``; ``weights``, when
  given, is a checkpoint (a state dict) loaded into it. Its module (and that of ``preprocess``) is imported
  from ``ModelSpec.code_folder`` when it lies there, else from ``sys.path``;
- a file saved with ``torch.jit.save`` (TorchScript). A state-dict file alone says nothing about the
  architecture, so it is rejected with an explanation of what to pass instead.

Checkpoints are read with ``torch.load(..., weights_only=True)``: no pickled code is ever executed.
Nothing is downloaded: a weights enum that is not in the hub cache is an error.

Preprocessing (PIL image -> float tensor [C, H, W]) is, in this order of preference: the torchvision
weights' own ``transforms()``; the factory named by ``ModelSpec.preprocess`` (``"package.module:fn"``,
called with no arguments, returning a callable); the default, which converts the image to RGB for
3-channel models or to grayscale for 1-channel models, resizes it to ``input_size`` (H, W) and scales
pixels to [0, 1] (no normalisation).

The input size (C, H, W), which layer listing runs a dummy input of, is ``ModelSpec.input_size``, else
the weights' crop size, the module's ``input_size`` attribute, what the ``preprocess`` factory's
callable gives for synthetic images (when it gives one size whatever the image), or a torchvision
architecture's default (3, 224, 224).

A model given no ``weights`` (a torchvision architecture's random initialisation, or whatever a
factory returns) loads with a :class:`RandomWeightsWarning`.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import socket
import sys
import threading
import warnings
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import torch
import torchvision
from PIL import Image
from torch import nn
from torchvision.transforms import functional as TF

from invert_pipeline.model_sources import is_import_path
from invert_pipeline.specs import ModelSpec
from invert_pipeline.suggestions import did_you_mean
from invert_pipeline.workspace import top_module_in

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".tar")
DEFAULT_INPUT_SIZE = (3, 224, 224)
RANDOM_INIT_SEED = 0
_SEEDED_INIT = threading.Lock()
_USER_IMPORTS = threading.Lock()
_NESTED_STATE_DICT_KEYS = ("state_dict", "model_state_dict", "model")
# Synthetic images (mode, (width, height)) a --preprocess runs on to find the input size it gives.
PREPROCESS_PROBES = (("RGB", (45, 37)), ("RGB", (67, 53)), ("L", (45, 37)))

Preprocess = Callable[[Image.Image], torch.Tensor]


class RandomWeightsWarning(UserWarning):
    """A model loaded without ``--weights``: its explanations may describe a random initialisation."""


@dataclass(frozen=True)
class LoadedModel:
    """A model ready for extraction.

    Attributes
    ----------
    module : the network, in eval mode, on the CPU.
    preprocess : PIL image -> float32 tensor of shape ``input_size``.
    fingerprint : digest of the weights (32 hex characters), see :func:`weights_fingerprint`.
    name, version : for the run manifest.
    input_size : (C, H, W) of one preprocessed input.
    """

    module: nn.Module
    preprocess: Preprocess
    fingerprint: str
    name: str
    version: str
    input_size: tuple[int, ...]


class DefaultPreprocess:
    """Convert to RGB (3 channels) or grayscale (1 channel), resize to (H, W), scale to [0, 1].

    A class rather than a closure so that DataLoader workers can pickle it.
    """

    def __init__(self, input_size: tuple[int, ...]):
        self.input_size = tuple(input_size)

    def __call__(self, image: Image.Image) -> torch.Tensor:
        channels, height, width = self.input_size
        image = image.convert(_pil_mode(channels))
        if image.size != (width, height):
            image = image.resize((width, height), Image.Resampling.BILINEAR)
        return TF.to_tensor(image)

    def __repr__(self) -> str:
        return f"DefaultPreprocess(input_size={self.input_size})"


class ConvertThen:
    """Convert the PIL image to ``mode`` before a transform that expects that many channels."""

    def __init__(self, mode: str, transform: Preprocess):
        self.mode = mode
        self.transform = transform

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return self.transform(image.convert(self.mode))

    def __repr__(self) -> str:
        return f"ConvertThen({self.mode!r}, {self.transform!r})"


def load_model(spec: ModelSpec) -> LoadedModel:
    """Build the model a spec names, load its weights, and pick its preprocessing.

    Raises
    ------
    FileNotFoundError, ValueError, ImportError
        With a message naming the field of the spec, what it held and what to pass instead.
    """
    if is_import_path(spec.source):
        module, default_name, version, transforms = _from_factory(spec)
    elif spec.source in torchvision.models.list_models():
        module, default_name, version, transforms = _from_torchvision(spec)
    elif Path(spec.source).is_file():
        module, default_name, version, transforms = _from_torchscript(spec)
    else:
        raise ValueError(
            f"--model {spec.source!r} is not a torchvision architecture, an import path "
            f"'package.module:factory' or an existing TorchScript file; "
            f"{did_you_mean(spec.source, torchvision.models.list_models())}pass one of those"
        )
    module.eval()
    custom = _custom_preprocess(spec) if transforms is None and spec.preprocess is not None else None
    input_size = _input_size(spec, module, transforms, custom)
    preprocess = _preprocess(transforms, custom, input_size)
    fingerprint = weights_fingerprint(module)
    return LoadedModel(
        module=module,
        preprocess=preprocess,
        fingerprint=fingerprint,
        name=spec.name or default_name,
        version=spec.version or version or fingerprint[:12],
        input_size=input_size,
    )


def model_fingerprint(spec: ModelSpec) -> str:
    """Digest of the weights of the model ``spec`` names (see :func:`weights_fingerprint`)."""
    return load_model(spec).fingerprint


def weights_fingerprint(module: nn.Module) -> str:
    """sha256 (32 hex characters) of every state-dict entry's name, dtype, shape and bytes, by name.

    Parameters and buffers (e.g. batch-norm statistics) both count: the same weights give the same
    digest whatever the source; any retraining changes it.
    """
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:32]


def import_object(path: str, *, field: str, folder: str | None = None) -> object:
    """The object an import path ``"package.module:attribute"`` names; ``field`` is for messages.

    Its module is imported from ``folder`` when its top-level module or package lies there (the user's folder a
    run was started in, ``ModelSpec.code_folder``), else from ``sys.path``.

    Raises
    ------
    ImportError
        Naming the host and folder of this process (a flow run or a Dask worker), the module and where it was
        looked for.
    """
    if not is_import_path(path):
        raise ValueError(f"{field} {path!r} is not an import path of the form 'package.module:attribute'")
    module_name, attribute = path.split(":", 1)
    try:
        module = _import_module(module_name, folder)
    except ImportError as error:
        looked_in = "its sys.path" if folder is None else f"{folder} and its sys.path"
        raise ImportError(
            f"{field} {path!r}: cannot import module {module_name!r} ({error}) on host {socket.gethostname()} in "
            f"folder {Path.cwd()}, where this process (a flow run, or a Dask worker) looked for it in {looked_in}; "
            "check that the package is installed or on PYTHONPATH there, or that the module's folder is on a file "
            "system this machine shares"
        ) from error
    try:
        return getattr(module, attribute)
    except AttributeError:
        public = [name for name in dir(module) if not name.startswith("_")]
        raise ImportError(
            f"{field} {path!r}: module {module_name!r} has no attribute {attribute!r}; "
            f"{did_you_mean(attribute, public).strip() or 'its names: ' + (', '.join(public[:20]) or 'none')}"
        ) from None


def _import_module(name: str, folder: str | None) -> ModuleType:
    """Module ``name``, its top-level module or package loaded from ``folder`` when it lies there (once per
    process, under its own name, so that its submodules and pickles of its objects resolve), else imported
    from ``sys.path``."""
    top = name.split(".", 1)[0]
    spec = None if folder is None else top_module_in(name, folder)
    if spec is not None:
        with _USER_IMPORTS:  # extraction shards load the model in threads of one process
            if top not in sys.modules:
                module = importlib.util.module_from_spec(spec)
                sys.modules[top] = module
                try:
                    spec.loader.exec_module(module)
                except BaseException:
                    del sys.modules[top]
                    raise
            loaded_from = getattr(sys.modules[top], "__file__", None)
            if loaded_from is None or Path(loaded_from).resolve() != Path(spec.origin).resolve():
                raise ImportError(
                    f"a module {top!r} is already imported from {loaded_from or 'elsewhere'}, not from {spec.origin}"
                )
    return importlib.import_module(name)


def _from_factory(spec: ModelSpec) -> tuple[nn.Module, str, str | None, Preprocess | None]:
    factory = import_object(spec.source, field="--model", folder=spec.code_folder)
    if not callable(factory):
        raise TypeError(f"--model {spec.source!r} names a {type(factory).__name__}, not a factory function")
    module = factory()
    if not isinstance(module, nn.Module):
        raise TypeError(
            f"--model {spec.source!r} returned a {type(module).__name__}; the factory must return an nn.Module"
        )
    version = None
    if spec.weights is None:
        if next(module.parameters(), None) is not None:
            warnings.warn(
                f"--model {spec.source!r} without --weights: the weights are whatever the factory returns, a "
                "random initialisation unless it loads trained weights itself; pass --weights CHECKPOINT (a state dict)",
                RandomWeightsWarning,
                stacklevel=3,
            )
    else:
        state_dict = _read_checkpoint(_checkpoint_path(spec.weights))
        _load_state_dict(module, state_dict, spec.weights)
        version = Path(spec.weights).name
    return module, spec.source.split(":", 1)[0], version, None  # named after its module, not `build`


def _from_torchvision(spec: ModelSpec) -> tuple[nn.Module, str, str | None, Preprocess | None]:
    arch = spec.source
    if spec.weights is None:
        warnings.warn(
            f"--model {arch!r} without --weights: its weights are a random initialisation (seeded "
            f"{RANDOM_INIT_SEED}), so the explanations describe an untrained network; pass --weights "
            f"{torchvision.models.get_model_weights(arch).__name__}.DEFAULT (from the torch hub cache) or a checkpoint",
            RandomWeightsWarning,
            stacklevel=3,
        )
        # The global RNG is shared by threads (extraction shards run concurrently): one seeded init at a time.
        with _SEEDED_INIT, torch.random.fork_rng(devices=[]):
            torch.manual_seed(RANDOM_INIT_SEED)
            module = torchvision.models.get_model(arch, weights=None)
        return module, arch, f"random-init-seed{RANDOM_INIT_SEED}", None
    if _looks_like_path(spec.weights):
        state_dict = _read_checkpoint(_checkpoint_path(spec.weights))
        module = torchvision.models.get_model(arch, weights=None, **_num_classes_override(arch, state_dict))
        _load_state_dict(module, state_dict, spec.weights)
        return module, arch, Path(spec.weights).name, None
    weights = _weights_enum(arch, spec.weights)
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    if not cached.is_file():
        raise FileNotFoundError(
            f"--weights {spec.weights!r}: {weights} is not in the torch hub cache ({cached}) and "
            "nothing is downloaded here. Copy the file there from a machine that has it (its URL is "
            f"{weights.url}), or pass weights= a local checkpoint (state dict) path"
        )
    module = torchvision.models.get_model(arch, weights=weights)  # reads the cached file, no download
    return module, arch, str(weights), weights.transforms()


def _from_torchscript(spec: ModelSpec) -> tuple[nn.Module, str, str | None, Preprocess | None]:
    path = Path(spec.source)
    _check_archive(path, "--model")
    try:
        with warnings.catch_warnings():  # TorchScript is deprecated upstream but is what users hand us
            warnings.filterwarnings("ignore", message=".*torch.jit.load.* is deprecated", category=FutureWarning)
            module = torch.jit.load(str(path), map_location="cpu")
    except RuntimeError as error:
        raise ValueError(
            f"--model {spec.source!r} is not a TorchScript file (torch.jit.load: "
            f"{str(error).splitlines()[0]}). A saved state dict needs its architecture: pass "
            f"source='resnet18' (a torchvision architecture) or source='package.module:factory' "
            f"with weights={spec.source!r}; a pickled nn.Module is not loaded (unsafe), save it "
            "with torch.jit.script(model).save(path) or as a state dict instead"
        ) from error
    return module, path.stem, path.name, None


def _weights_enum(arch: str, name: str) -> torchvision.models.WeightsEnum:
    enum = torchvision.models.get_model_weights(arch)
    short = name.split(".", 1)[1] if name.startswith(f"{enum.__name__}.") else name
    if "." not in short and short in enum.__members__:
        return enum[short]
    raise ValueError(
        f"--weights {name!r} is neither an existing checkpoint file nor a weights name of {arch}; "
        f"available: {', '.join(f'{enum.__name__}.{member}' for member in enum.__members__)}"
    )


def _checkpoint_path(weights: str) -> Path:
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(
            f"--weights {weights!r}: no such checkpoint file on host {socket.gethostname()} in folder {Path.cwd()}, "
            "where this process (a flow run, or a Dask worker) reads it (weights enum names such as "
            "'ResNet18_Weights.IMAGENET1K_V1' apply only to torchvision architectures)"
        )
    return path


def _read_checkpoint(path: Path) -> Mapping[str, torch.Tensor]:
    """A state dict from a checkpoint, unwrapping ``{"state_dict": ...}``-style containers."""
    if path.stat().st_size == 0:  # torch.load would fail with "list index out of range"
        raise ValueError(
            f"--weights {str(path)!r} is an empty file (0 bytes): the checkpoint was not written completely; "
            "save the weights again with torch.save(model.state_dict(), path)"
        )
    _check_archive(path, "--weights")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError, RuntimeError, EOFError... for bad files
        raise ValueError(
            f"--weights {str(path)!r} is not a state dict torch.load(weights_only=True) can "
            f"read ({type(error).__name__}: {str(error).splitlines()[0]}); save weights with "
            "torch.save(model.state_dict(), path)"
        ) from error
    if isinstance(checkpoint, Mapping):
        for key in _NESTED_STATE_DICT_KEYS:
            if isinstance(checkpoint.get(key), Mapping):
                checkpoint = checkpoint[key]
                break
    if not isinstance(checkpoint, Mapping) or not all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        raise ValueError(
            f"--weights {str(path)!r} holds a {type(checkpoint).__name__}, not a state dict of "
            "tensors; save weights with torch.save(model.state_dict(), path)"
        )
    return checkpoint


def _check_archive(path: Path, flag: str) -> None:
    """Refuse a checkpoint or TorchScript file in torch's zip format whose members fail their CRC-32.

    torch reads the members without checking their CRCs, so flipped bytes in a tensor would load as
    other weights. A file in torch's older, non-zip format has no checksums to check.
    """
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
        problem = None if damaged is None else f"its member {damaged} fails its CRC-32 check"
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        problem = f"its zip structure cannot be read ({error})"
    if problem is not None:
        raise ValueError(
            f"{flag} {str(path)!r} is damaged: {problem}, so its weights are not the ones saved; "
            "copy or save the checkpoint again (torch.save(model.state_dict(), path))"
        )


def _load_state_dict(module: nn.Module, state_dict: Mapping[str, torch.Tensor], weights: str) -> None:
    try:
        module.load_state_dict(state_dict, strict=True)
    except RuntimeError as error:
        raise ValueError(
            f"--weights {weights!r} does not fit the model: {' '.join(str(error).split())}"
        ) from error


def _num_classes_override(arch: str, state_dict: Mapping[str, torch.Tensor]) -> dict[str, int]:
    """``num_classes`` for a fine-tuned checkpoint whose last linear layer differs from the default."""
    with torch.device("meta"):
        reference = torchvision.models.get_model(arch, weights=None)
    linear_layers = [(name, m) for name, m in reference.named_modules() if isinstance(m, nn.Linear)]
    if not linear_layers:
        return {}
    name, last = linear_layers[-1]
    weight = state_dict.get(f"{name}.weight")
    if weight is None or weight.ndim != 2 or weight.shape[0] == last.out_features:
        return {}
    return {"num_classes": int(weight.shape[0])}


def _input_size(
    spec: ModelSpec, module: nn.Module, transforms: Preprocess | None, custom: Preprocess | None
) -> tuple[int, ...]:
    """(C, H, W) of one input: ``--input-size``, else the weights' crop, the module's ``input_size``
    attribute, what ``--preprocess`` gives (:func:`_preprocessed_size`), a torchvision architecture's default."""
    if spec.input_size is not None:
        size = tuple(spec.input_size)
    elif transforms is not None and hasattr(transforms, "crop_size"):
        crop = list(transforms.crop_size)
        size = (3, crop[0], crop[-1])
    elif isinstance(getattr(module, "input_size", None), tuple):
        size = tuple(module.input_size)
    elif custom is not None:
        size = _preprocessed_size(spec.preprocess, custom)
    elif spec.source in torchvision.models.list_models():
        size = DEFAULT_INPUT_SIZE
    else:
        raise ValueError(
            f"--input-size C H W is needed for --model {spec.source!r}: pass the channels, height and width of "
            "one input, e.g. --input-size 1 28 28, give the module an input_size attribute, or pass a --preprocess "
            "that resizes images to a fixed size"
        )
    if len(size) != 3 or min(size) < 1:
        raise ValueError(f"--input-size must be C H W, three positive integers; got {' '.join(map(str, size))}")
    return size


def _preprocessed_size(path: str, preprocess: Preprocess) -> tuple[int, ...]:
    """The (C, H, W) ``preprocess`` gives, found by running it on synthetic images of two sizes and both modes.

    The model is loaded before, and without, any dataset, so the samples are synthetic: a
    preprocessing that fixes the input (converts the mode, resizes or crops) gives one shape for
    all of them, which is the input size. One whose output follows the image (no resize, no mode
    conversion) gives several, and ``--input-size`` is asked for rather than guessed. A probe the
    preprocessing refuses (a grayscale image where it expects RGB) is left out.
    """
    shapes: dict[str, tuple[int, ...]] = {}
    failures: dict[str, str] = {}
    for mode, size in PREPROCESS_PROBES:
        name = f"{'RGB' if mode == 'RGB' else 'grayscale'} {size[0]}x{size[1]}"
        try:
            output = preprocess(Image.new(mode, size, color=128 if mode == "L" else (128, 128, 128)))
        except Exception as error:  # noqa: BLE001 - any failure of user code: that probe is left out
            failures[name] = f"{type(error).__name__}: {error}"
            continue
        if not isinstance(output, torch.Tensor):
            raise ValueError(
                f"--preprocess {path!r} returned a {type(output).__name__} for an image; it must return a "
                "float tensor [C, H, W]"
            )
        shapes[name] = tuple(output.shape)
    if not shapes:
        raise ValueError(
            f"--preprocess {path!r} failed on every synthetic image it was tried on ({failures}); pass "
            "--input-size C H W"
        )
    if len(set(shapes.values())) > 1 or len(next(iter(shapes.values()))) != 3:
        found = ", ".join(f"{name} -> {'x'.join(map(str, shape))}" for name, shape in shapes.items())
        raise ValueError(
            f"--preprocess {path!r} does not give one input size [C, H, W] whatever the image ({found}): pass "
            "--input-size C H W, or make the preprocessing convert the mode and resize"
        )
    return next(iter(shapes.values()))


def _custom_preprocess(spec: ModelSpec) -> Preprocess:
    """The callable the ``--preprocess`` factory returns when called with no arguments."""
    factory = import_object(spec.preprocess, field="--preprocess", folder=spec.code_folder)
    preprocess = factory() if callable(factory) else None
    if not callable(preprocess):
        raise ValueError(
            f"--preprocess {spec.preprocess!r} must name a factory that returns a callable "
            "PIL image -> tensor"
        )
    return preprocess


def _preprocess(transforms: Preprocess | None, custom: Preprocess | None, input_size: tuple[int, ...]) -> Preprocess:
    if transforms is not None:
        return ConvertThen(_pil_mode(input_size[0]), transforms)
    if custom is not None:
        return custom
    _pil_mode(input_size[0])  # fail now, not in a DataLoader worker
    return DefaultPreprocess(input_size)


def _pil_mode(channels: int) -> str:
    if channels == 1:
        return "L"
    if channels == 3:
        return "RGB"
    raise ValueError(
        f"--input-size has {channels} channels; the built-in preprocessing handles 1 (grayscale) or 3 "
        "(RGB): pass --preprocess for other inputs"
    )


def _looks_like_path(weights: str) -> bool:
    return "/" in weights or "\\" in weights or weights.endswith(CHECKPOINT_SUFFIXES) or Path(weights).exists()

