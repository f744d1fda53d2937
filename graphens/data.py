"""Datasets: flat, channel-last float signals in memory, plus a registry of loaders.

Every dataset is a :class:`Dataset` whose inputs are ``float32`` matrices ``[n, S]``: one row per
stimulus, one column per input signal. Images are flattened channel-last, so pixel
``(row, col)`` channel ``ch`` of an ``(H, W, C)`` image is column ``(row * W + col) * C + ch``,
and pixel values are scaled to ``[0, 1]`` (method.md §5).

Loaders are plain functions registered by name in :data:`DATASETS`; :func:`load_dataset` looks a
name up there. Adding a dataset is one function and one entry.
"""

from __future__ import annotations

import gzip
import inspect
import os
import pickle
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from graphens.errors import GraphensError
from graphens.validation import Options, check_value

__all__ = [
    "CIFAR100_URL",
    "CIFAR10_URL",
    "FASHION_MNIST_FILES",
    "FASHION_MNIST_SYSTEM_DIR",
    "FASHION_MNIST_URL",
    "MNIST_FILES",
    "MNIST_MIRROR_URL",
    "MNIST_URL",
    "Dataset",
    "cifar10",
    "cifar100",
    "digits",
    "fashion_mnist",
    "from_arrays",
    "load_dataset",
    "mnist",
    "passed_arrays",
    "read_idx",
]

#: Where the Debian package ``dataset-fashion-mnist`` installs the (gzipped) idx files.
FASHION_MNIST_SYSTEM_DIR = "/usr/share/datasets/fashion-mnist"

#: The four idx files of MNIST (each may also be present with a ``.gz`` suffix).
MNIST_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}

#: Fashion-MNIST's idx files have MNIST's names.
FASHION_MNIST_FILES = MNIST_FILES

#: Where the official archives and files are published (named in the missing-data errors).
MNIST_URL = "http://yann.lecun.com/exdb/mnist/"
MNIST_MIRROR_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"  # torchvision's mirror
FASHION_MNIST_URL = "https://github.com/zalandoresearch/fashion-mnist (folder data/fashion)"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR100_URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"

_MAX_POSITIONS_REPORTED = 5


# --------------------------------------------------------------------------------------------
# The dataset object
# --------------------------------------------------------------------------------------------


@dataclass
class Dataset:
    """An in-memory dataset of flat signals with optional integer labels.

    Parameters
    ----------
    name : str
        Human-readable name (the registry key for built-in datasets).
    x_train, x_test : torch.Tensor
        ``float32`` tensors of shape ``[n, S]`` and ``[m, S]``; all values finite. Image pixels
        are expected in ``[0, 1]``.
    y_train, y_test : torch.Tensor or None
        ``int64`` labels of shape ``[n]`` / ``[m]`` with values ``>= 0``, or ``None`` when the
        split is unlabelled.
    image_shape : tuple of int or None
        ``(H, W, C)`` when every row is a flattened channel-last image (``H * W * C == S``),
        otherwise ``None``.

    Raises
    ------
    GraphensError
        If any of the above does not hold. Use :func:`from_arrays` to build a dataset from
        numpy arrays or image-shaped tensors; it converts and then validates the same way.
    """

    name: str
    x_train: torch.Tensor = field(repr=False)
    y_train: torch.Tensor | None = field(repr=False)
    x_test: torch.Tensor = field(repr=False)
    y_test: torch.Tensor | None = field(repr=False)
    image_shape: tuple[int, int, int] | None = None

    def __post_init__(self) -> None:
        _check_inputs("x_train", self.x_train)
        _check_inputs("x_test", self.x_test)
        if self.x_train.shape[1] != self.x_test.shape[1]:
            raise GraphensError(
                f"x_train has {self.x_train.shape[1]} signals per row but x_test has "
                f"{self.x_test.shape[1]}; both splits must have the same number of columns."
            )
        _check_labels("y_train", self.y_train, len(self.x_train), "x_train")
        _check_labels("y_test", self.y_test, len(self.x_test), "x_test")
        if self.image_shape is not None:
            self.image_shape = check_image_shape(self.image_shape, self.x_train.shape[1])

    @property
    def num_signals(self) -> int:
        """Number of input signals ``S`` (columns of ``x_train``)."""
        return int(self.x_train.shape[1])

    @property
    def num_classes(self) -> int:
        """``max label + 1`` over the train and test labels; ``0`` if there are no labels."""
        labels = [y for y in (self.y_train, self.y_test) if y is not None and y.numel() > 0]
        if not labels:
            return 0
        return int(max(int(y.max()) for y in labels)) + 1

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, train={tuple(self.x_train.shape)}, "
            f"test={tuple(self.x_test.shape)}, image_shape={self.image_shape}, "
            f"num_classes={self.num_classes})"
        )


def _check_inputs(name: str, x: Any) -> None:
    if not isinstance(x, torch.Tensor):
        raise GraphensError(
            f"{name} must be a torch.Tensor, got {type(x).__name__}; "
            "use graphens.data.from_arrays to convert numpy arrays."
        )
    if x.dtype != torch.float32:
        raise GraphensError(
            f"{name} has dtype {x.dtype}; it must be torch.float32 "
            "(use graphens.data.from_arrays, which converts)."
        )
    if x.dim() != 2:
        raise GraphensError(
            f"{name} has shape {tuple(x.shape)}; it must be [num_samples, num_signals] "
            "(use graphens.data.from_arrays to flatten images)."
        )
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise GraphensError(
            f"{name} is empty (shape {tuple(x.shape)}); every split needs at least one sample "
            "with at least one signal."
        )
    finite = torch.isfinite(x)
    if not bool(finite.all()):
        bad = (~finite).nonzero()
        where = ", ".join(
            f"(row {int(r)}, column {int(c)})" for r, c in bad[:_MAX_POSITIONS_REPORTED].tolist()
        )
        more = " ..." if len(bad) > _MAX_POSITIONS_REPORTED else ""
        raise GraphensError(
            f"{name} contains {len(bad)} non-finite value(s) (NaN or inf) at {where}{more}; "
            "clean or impute them before building the dataset."
        )


def _check_labels(name: str, y: Any, n: int, x_name: str) -> None:
    if y is None:
        return
    if not isinstance(y, torch.Tensor):
        raise GraphensError(
            f"{name} must be a torch.Tensor or None, got {type(y).__name__}; "
            "use graphens.data.from_arrays to convert numpy arrays."
        )
    if y.dtype != torch.int64 or y.dim() != 1:
        raise GraphensError(
            f"{name} has dtype {y.dtype} and shape {tuple(y.shape)}; labels must be a 1-D "
            "torch.int64 tensor (use graphens.data.from_arrays, which converts)."
        )
    if len(y) != n:
        raise GraphensError(
            f"{name} has {len(y)} labels but {x_name} has {n} rows; "
            "give exactly one label per sample."
        )
    if len(y) > 0 and int(y.min()) < 0:
        raise GraphensError(
            f"{name} contains the negative label {int(y.min())}; labels must be integers >= 0 "
            "(re-encode them, e.g. with numpy.unique(y, return_inverse=True))."
        )


def check_image_shape(image_shape: Any, num_signals: int) -> tuple[int, int, int]:
    """``(H, W, C)`` as ints, checked against the ``num_signals`` columns of flat images."""
    try:
        shape = tuple(int(s) for s in image_shape)
        ok = len(shape) == 3 and all(s >= 1 for s in shape) and shape == tuple(image_shape)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise GraphensError(
            f"image_shape={image_shape!r} is not valid; give (H, W, C) as three positive "
            "integers, or None for signals that are not an image."
        )
    if int(np.prod(shape)) != num_signals:
        raise GraphensError(
            f"image_shape={shape} has H*W*C = {int(np.prod(shape))} signals but the data has "
            f"{num_signals} columns; give the shape the rows were flattened from "
            "(channel-last), or image_shape=None."
        )
    return shape  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------
# Building datasets from arrays
# --------------------------------------------------------------------------------------------


def _to_numpy(name: str, a: Any) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().numpy()
    try:
        return np.asarray(a)
    except Exception as exc:  # pragma: no cover - exotic inputs
        raise GraphensError(
            f"{name} of type {type(a).__name__} cannot be converted to an array; "
            "pass a numpy array or a torch.Tensor."
        ) from exc


def _flatten_x(
    name: str, x: Any, image_shape: tuple[int, int, int] | None
) -> tuple[torch.Tensor, tuple[int, int, int] | None]:
    arr = _to_numpy(name, x)
    numeric = np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    if not numeric or np.issubdtype(arr.dtype, np.complexfloating):
        raise GraphensError(
            f"{name} has dtype {arr.dtype}; it must be numeric (float or int pixel values)."
        )
    if arr.ndim == 2:
        inferred = None
    elif arr.ndim == 3:
        inferred = (arr.shape[1], arr.shape[2], 1)
    elif arr.ndim == 4:
        inferred = (arr.shape[1], arr.shape[2], arr.shape[3])
    else:
        raise GraphensError(
            f"{name} has shape {arr.shape}; give [n, S] signals, [n, H, W] grey images or "
            "[n, H, W, C] channel-last images."
        )
    if inferred is not None and image_shape is not None:
        given = tuple(int(s) for s in image_shape)
        if given != inferred:
            raise GraphensError(
                f"image_shape={given} disagrees with the shape of {name} {arr.shape} "
                f"(which implies {inferred}); drop image_shape or pass flat [n, S] data."
            )
    flat = arr.reshape(arr.shape[0], -1) if arr.ndim > 2 else arr
    tensor = torch.from_numpy(np.ascontiguousarray(flat, dtype=np.float32))
    return tensor, inferred


def _labels_to_tensor(name: str, y: Any) -> torch.Tensor | None:
    if y is None:
        return None
    arr = _to_numpy(name, y)
    if arr.ndim != 1:
        raise GraphensError(
            f"{name} has shape {arr.shape}; labels must be one-dimensional [n] "
            "(use y.ravel() for column vectors, or argmax for one-hot labels)."
        )
    if np.issubdtype(arr.dtype, np.bool_):
        arr = arr.astype(np.int64)
    elif np.issubdtype(arr.dtype, np.floating):
        bad = arr[~np.isfinite(arr) | (arr != np.round(arr))]
        if bad.size:
            raise GraphensError(
                f"{name} contains non-integer labels such as {bad[0].item()!r}; labels must be "
                "integers >= 0 (re-encode them, e.g. with numpy.unique(y, return_inverse=True))."
            )
    elif not np.issubdtype(arr.dtype, np.integer):
        raise GraphensError(
            f"{name} has dtype {arr.dtype}; labels must be integers >= 0 "
            "(re-encode them, e.g. with numpy.unique(y, return_inverse=True))."
        )
    if arr.size and arr.min() < 0:
        raise GraphensError(
            f"{name} contains the negative label {arr.min().item()!r}; labels must be integers "
            ">= 0 (re-encode them, e.g. with numpy.unique(y, return_inverse=True))."
        )
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.int64))


def from_arrays(
    x_train: Any,
    y_train: Any,
    x_test: Any,
    y_test: Any,
    *,
    image_shape: tuple[int, int, int] | None = None,
    name: str = "arrays",
) -> Dataset:
    """Build a validated :class:`Dataset` from numpy arrays or tensors.

    Parameters
    ----------
    x_train, x_test : array-like
        Inputs of shape ``[n, S]`` (flat signals), ``[n, H, W]`` (grey images, ``C = 1``) or
        ``[n, H, W, C]`` (channel-last images). Image inputs are flattened channel-last and
        ``image_shape`` is inferred. Values are converted to ``float32`` but not rescaled:
        scale pixels to ``[0, 1]`` first.
    y_train, y_test : array-like or None
        Integer labels ``>= 0`` of shape ``[n]`` (floats holding whole numbers are accepted),
        or ``None`` for an unlabelled split.
    image_shape : tuple of int, optional
        ``(H, W, C)`` of flat inputs; must satisfy ``H * W * C == S``. For image-shaped inputs
        it must agree with the inferred shape.
    name : str
        Name stored on the dataset.

    Returns
    -------
    Dataset

    Raises
    ------
    GraphensError
        For non-finite inputs (with the count and the first positions), mismatched lengths of
        ``x`` and ``y``, an ``image_shape`` whose product is not ``S``, empty splits, or labels
        that are not integers ``>= 0``.
    """
    xtr, shape_tr = _flatten_x("x_train", x_train, image_shape)
    xte, shape_te = _flatten_x("x_test", x_test, image_shape)
    if shape_tr != shape_te and shape_tr is not None and shape_te is not None:
        raise GraphensError(
            f"x_train holds images of shape {shape_tr} but x_test holds {shape_te}; "
            "both splits must have the same image shape."
        )
    shape = image_shape if image_shape is not None else (shape_tr or shape_te)
    return Dataset(
        name=str(name),
        x_train=xtr,
        y_train=_labels_to_tensor("y_train", y_train),
        x_test=xte,
        y_test=_labels_to_tensor("y_test", y_test),
        image_shape=None if shape is None else tuple(shape),  # type: ignore[arg-type]
    )


# --------------------------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------------------------


def passed_arrays(**params: Any) -> Dataset:
    """The loader of the ``arrays`` dataset: there is nothing to load, the run is given them.

    ``RunConfig(dataset="arrays")`` names a user's own images: the run takes the vision
    defaults (the paper's model and d 0.1, τ 0.1 so that tens of epochs train) and records
    ``arrays`` as its dataset. The data come with the call,
    ``graphens.run(config, dataset=from_arrays(...))``; loading them by name fails here,
    before any training.
    """
    raise GraphensError(
        "dataset 'arrays' is the data you pass: graphens.run(RunConfig(dataset='arrays', ...), "
        "dataset=graphens.data.from_arrays(x_train, y_train, x_test, y_test)); there is "
        "nothing to load by name (`graphens train` and sweep specs need a named dataset).")


# --------------------------------------------------------------------------------------------
# Built-in datasets
# --------------------------------------------------------------------------------------------


def digits(seed: int = 0, test_fraction: float = 0.2) -> Dataset:
    """The scikit-learn 8×8 handwritten digits (1797 images, 10 classes; bundled, offline).

    Pixels (0..16) are divided by 16 into ``[0, 1]``; ``image_shape = (8, 8, 1)``. The test
    split is a stratified ``sklearn.model_selection.train_test_split`` with
    ``random_state=seed``.

    Parameters
    ----------
    seed : int
        Random state of the split.
    test_fraction : float
        Fraction of the images in the test split, in ``(0, 1)``.

    Returns
    -------
    Dataset
        Named ``"digits"``.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if not isinstance(test_fraction, (int, float)) or not 0.0 < float(test_fraction) < 1.0:
        raise GraphensError(
            f"test_fraction={test_fraction!r} is not valid; give a number strictly between 0 "
            "and 1, e.g. 0.2."
        )
    bunch = load_digits()
    x = (bunch.data / 16.0).astype(np.float32)
    y = bunch.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=float(test_fraction), random_state=int(seed), stratify=y
    )
    return from_arrays(x_tr, y_tr, x_te, y_te, image_shape=(8, 8, 1), name="digits")


_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an idx file (the MNIST format), plain or gzip-compressed.

    The format is a 4-byte magic number ``0x00 0x00 <dtype code> <ndim>``, then ``ndim``
    big-endian ``uint32`` dimension sizes, then the data in C order (big-endian for multi-byte
    types). Compression is detected from the gzip magic bytes, not from the file name.

    Parameters
    ----------
    path : path-like
        The file.

    Returns
    -------
    numpy.ndarray
        The array with its stored shape, in native byte order.

    Raises
    ------
    GraphensError
        If the file is not a well-formed idx file (bad magic, unknown type code, or a payload
        whose size does not match the header).
    """
    path = Path(path)
    with open(path, "rb") as fh:
        raw = fh.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise GraphensError(
                f"{path} looks gzip-compressed but cannot be decompressed ({exc}); "
                "the file is probably truncated: download it again."
            ) from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise GraphensError(
            f"{path} is not an idx file (magic bytes {raw[:4].hex() or 'missing'}); "
            "expected 0000<type><ndim> as in the MNIST distribution files."
        )
    dtype = _IDX_DTYPES[raw[2]]
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise GraphensError(f"{path} is truncated inside its idx header; download it again.")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    count = int(np.prod(dims)) if dims else 1
    expected = header + count * dtype.itemsize
    if len(raw) != expected:
        raise GraphensError(
            f"{path} has {len(raw)} bytes but its idx header (shape {dims}, {dtype}) implies "
            f"{expected}; the file is truncated or corrupt: download it again."
        )
    data = np.frombuffer(raw, dtype=dtype, count=count, offset=header).reshape(dims)
    return data.astype(dtype.newbyteorder("="), copy=True)


# --------------------------------------------------------------------------------------------
# Files on disk: where each dataset's files are looked for, and how to get them
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    """Where one dataset's files are looked for, and how a user gets them.

    Under a base folder ``B`` (``root``, then ``$GRAPHENS_DATA``) the files are looked for in
    ``B/home/inner`` (the graphens convention), ``B/inner`` (the official archive extracted into
    ``B``) and ``B/torchvision_folder`` (torchvision's layout under its root), after ``B`` itself
    for ``root`` (and for ``$GRAPHENS_DATA`` when ``env_itself``). ``get`` says how to get the
    files, with ``{into}`` where the folders to put them in go.
    """

    title: str
    files: Mapping[str, str]
    home: str
    inner: str
    torchvision: str
    torchvision_folder: str
    get: str
    compressed: bool = False
    env_itself: bool = False

    def folders(self, base: Path, itself: bool) -> list[Path]:
        out = [base] if itself else []
        out.append(base / self.home / self.inner)
        if self.inner:
            out.append(base / self.inner)
        out.append(base / self.torchvision_folder)
        return out

    def describe_files(self) -> str:
        suffix = "[.gz]" if self.compressed else ""
        return ", ".join(f"{name}{suffix}" for name in self.files.values())


_MNIST_GET = (
    "download train-images-idx3-ubyte.gz and the other three files from {url} into {{into}}"
)

_MNIST = _Source(
    title="MNIST",
    files=MNIST_FILES,
    home="mnist",
    inner="",
    torchvision="MNIST",
    torchvision_folder="MNIST/raw",
    get=_MNIST_GET.format(url=f"{MNIST_URL} (mirror {MNIST_MIRROR_URL})"),
    compressed=True,
)

_FASHION_MNIST = _Source(
    title="Fashion-MNIST",
    files=FASHION_MNIST_FILES,
    home="fashion-mnist",
    inner="",
    torchvision="FashionMNIST",
    torchvision_folder="FashionMNIST/raw",
    get=_MNIST_GET.format(url=FASHION_MNIST_URL)
    + ", or `apt-get install dataset-fashion-mnist`",
    compressed=True,
    env_itself=True,
)

_CIFAR10 = _Source(
    title="CIFAR-10",
    files={**{f"train{i}": f"data_batch_{i}" for i in range(1, 6)}, "test": "test_batch"},
    home="cifar",
    inner="cifar-10-batches-py",
    torchvision="CIFAR10",
    torchvision_folder="cifar-10-batches-py",
    get=f"download {CIFAR10_URL} and extract it into {{into}} (it unpacks to "
    "cifar-10-batches-py/)",
)

_CIFAR100 = _Source(
    title="CIFAR-100",
    files={"train": "train", "test": "test"},
    home="cifar",
    inner="cifar-100-python",
    torchvision="CIFAR100",
    torchvision_folder="cifar-100-python",
    get=f"download {CIFAR100_URL} and extract it into {{into}} (it unpacks to "
    "cifar-100-python/)",
)


def _find_file(folder: Path, name: str, compressed: bool) -> Path | None:
    for candidate in (name, f"{name}.gz") if compressed else (name,):
        if (folder / candidate).is_file():
            return folder / candidate
    return None


def _default_download_dir() -> Path:
    env = os.environ.get("GRAPHENS_DATA")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "graphens"


def _search_dirs(
    source: _Source, root: str | os.PathLike[str] | None, extra: tuple[Path, ...] = ()
) -> list[Path]:
    dirs: list[Path] = []
    if root is not None:
        dirs += source.folders(Path(root).expanduser(), itself=True)
    env = os.environ.get("GRAPHENS_DATA")
    if env:
        dirs += source.folders(Path(env).expanduser(), itself=source.env_itself)
    dirs += extra
    # Where download=True puts the files (torchvision's layout) when GRAPHENS_DATA is unset.
    dirs.append(Path.home() / ".cache" / "graphens" / source.torchvision_folder)
    return list(dict.fromkeys(dirs))


def _locate(source: _Source, dirs: list[Path]) -> dict[str, Path] | None:
    for folder in dirs:
        found = {key: _find_file(folder, name, source.compressed)
                 for key, name in source.files.items()}
        if all(path is not None for path in found.values()):
            return found  # type: ignore[return-value]
    return None


def _missing_message(source: _Source, root: str | os.PathLike[str] | None,
                     dirs: list[Path]) -> str:
    env = os.environ.get("GRAPHENS_DATA")
    convention = f"$GRAPHENS_DATA/{source.home}"
    if env:
        convention += f" (= {Path(env).expanduser() / source.home})"
    into = convention if root is None else f"{Path(root).expanduser()} or {convention}"
    return (
        f"{source.title} files ({source.describe_files()}) were not found; searched: "
        f"{', '.join(str(d) for d in dirs)}. To get them, {source.get.format(into=into)}; or "
        "pass download=True with torchvision installed (pip install 'graphens[download]')."
    )


def _download(source: _Source, root: str | os.PathLike[str] | None) -> dict[str, Path] | None:
    try:
        import torchvision.datasets as tv_datasets  # type: ignore[import-not-found]
    except ImportError as exc:
        raise GraphensError(
            f"download=True needs torchvision to fetch {source.title}, and it is not installed; "
            "pip install 'graphens[download]', or put the files in place yourself "
            "(download=False says where)."
        ) from exc
    target = Path(root).expanduser() if root is not None else _default_download_dir()
    try:
        target.mkdir(parents=True, exist_ok=True)
        for train in (True, False):
            getattr(tv_datasets, source.torchvision)(str(target), train=train, download=True)
    except Exception as exc:  # network errors come in many types
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise GraphensError(
            f"downloading {source.title} with torchvision into {target} failed ({reason}); "
            "check the network, or put the files in place yourself (download=False says where)."
        ) from exc
    return _locate(source, source.folders(target, itself=True))


def _dataset_files(source: _Source, root: str | os.PathLike[str] | None, download: bool,
                   extra: tuple[Path, ...] = ()) -> dict[str, Path]:
    """The paths of ``source.files`` (by key), found, downloaded, or a one-line error."""
    dirs = _search_dirs(source, root, extra)
    found = _locate(source, dirs)
    if found is None and download:
        found = _download(source, root)
    if found is None:
        raise GraphensError(_missing_message(source, root, dirs))
    return found


def _pixels(images: np.ndarray) -> torch.Tensor:
    """``uint8`` images ``[n, ...]`` as flat ``float32`` rows in ``[0, 1]``."""
    flat = np.ascontiguousarray(images.reshape(len(images), -1))
    return torch.from_numpy(flat).to(torch.float32) / 255.0


# --------------------------------------------------------------------------------------------
# MNIST and Fashion-MNIST (idx files)
# --------------------------------------------------------------------------------------------


def _idx_dataset(source: _Source, name: str, root: str | os.PathLike[str] | None,
                 download: bool, extra: tuple[Path, ...] = ()) -> Dataset:
    found = _dataset_files(source, root, download, extra)
    arrays = {key: read_idx(path) for key, path in found.items()}
    for key in ("x_train", "x_test"):
        if arrays[key].ndim != 3 or arrays[key].shape[1:] != (28, 28):
            raise GraphensError(
                f"{found[key]} holds an array of shape {arrays[key].shape}, not [n, 28, 28] "
                f"images; replace it with the original {source.title} file."
            )
    return from_arrays(
        _pixels(arrays["x_train"]),
        arrays["y_train"],
        _pixels(arrays["x_test"]),
        arrays["y_test"],
        image_shape=(28, 28, 1),
        name=name,
    )


def mnist(root: str | os.PathLike[str] | None = None, download: bool = False) -> Dataset:
    """MNIST handwritten digits (60 000 train / 10 000 test 28×28 grey images, 10 classes).

    The four idx files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each plain or ``.gz``) are looked
    for, in order, in ``root``, ``root/mnist``, ``root/MNIST/raw`` (torchvision's layout),
    ``$GRAPHENS_DATA/mnist``, ``$GRAPHENS_DATA/MNIST/raw`` and ``~/.cache/graphens/MNIST/raw``.
    ``$GRAPHENS_DATA`` itself is not searched: Fashion-MNIST's files have the same names.
    Pixels are divided by 255 into ``[0, 1]``; ``image_shape = (28, 28, 1)``.

    Parameters
    ----------
    root : path-like, optional
        A folder to search first (it may be a torchvision root).
    download : bool
        If the files are not found, download them with ``torchvision.datasets.MNIST`` (needs
        torchvision, ``pip install 'graphens[download]'``, and network access) into ``root``,
        else ``$GRAPHENS_DATA``, else ``~/.cache/graphens``.

    Returns
    -------
    Dataset
        Named ``"mnist"``.

    Raises
    ------
    GraphensError
        If the files cannot be found (or downloaded); the message lists the folders searched,
        the URL of the files and where to put them.
    """
    return _idx_dataset(_MNIST, "mnist", root, download)


def fashion_mnist(root: str | os.PathLike[str] | None = None, download: bool = False) -> Dataset:
    """Fashion-MNIST (60 000 train / 10 000 test 28×28 grey images, 10 classes).

    The four idx files (the names of MNIST's: ``train-images-idx3-ubyte``,
    ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each
    plain or ``.gz``) are looked for, in order, in ``root``, ``$GRAPHENS_DATA``,
    ``$GRAPHENS_DATA/fashion-mnist`` (each also in torchvision's ``FashionMNIST/raw``
    sub-folder), ``/usr/share/datasets/fashion-mnist`` (the Debian package
    ``dataset-fashion-mnist``) and ``~/.cache/graphens/FashionMNIST/raw``.
    Pixels are divided by 255 into ``[0, 1]``; ``image_shape = (28, 28, 1)``.

    Parameters
    ----------
    root : path-like, optional
        A folder to search first.
    download : bool
        If the files are not found, download them with ``torchvision.datasets.FashionMNIST``
        (needs torchvision and network access) into ``root``, else ``$GRAPHENS_DATA``, else
        ``~/.cache/graphens``.

    Returns
    -------
    Dataset
        Named ``"fashion-mnist"``.

    Raises
    ------
    GraphensError
        If the files cannot be found (or downloaded); the message lists the folders searched
        and how to get the data.
    """
    return _idx_dataset(_FASHION_MNIST, "fashion-mnist", root, download,
                        extra=(Path(FASHION_MNIST_SYSTEM_DIR),))


# --------------------------------------------------------------------------------------------
# CIFAR-10 and CIFAR-100 (python batches)
# --------------------------------------------------------------------------------------------

# The globals a CIFAR batch pickle may name: numpy arrays and (protocol 2 written by Python 3)
# bytes. Anything else is refused, so a tampered file cannot run code when it is read.
_CIFAR_PICKLE_GLOBALS = frozenset({
    ("_codecs", "encode"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
})


class _BatchUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _CIFAR_PICKLE_GLOBALS:
            raise pickle.UnpicklingError(
                f"it names {module}.{name}, which a CIFAR batch never does")
        return super().find_class(module, name)


def _read_cifar_batch(path: Path, label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)`` of one python batch: ``uint8 [n, 3072]`` rows and ``[n]`` labels."""
    try:
        with open(path, "rb") as fh:
            batch = _BatchUnpickler(fh, encoding="bytes").load()
    except Exception as exc:  # a damaged pickle raises many types
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise GraphensError(
            f"{path} cannot be read as a CIFAR python batch ({reason}); download and extract "
            "the archive again."
        ) from exc
    images = batch.get(b"data") if isinstance(batch, dict) else None
    labels = np.asarray(batch.get(label_key, [])) if isinstance(batch, dict) else np.empty(0)
    if (not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 2
            or images.shape[1] != 3072 or labels.shape != (len(images),)
            or not np.issubdtype(labels.dtype, np.integer)):
        raise GraphensError(
            f"{path} is not a CIFAR python batch (it needs b'data', uint8 [n, 3072], and "
            f"{label_key!r}, n integer labels); download and extract the archive again."
        )
    return images, labels


def _cifar_dataset(source: _Source, name: str, root: str | os.PathLike[str] | None,
                   download: bool, label_key: bytes) -> Dataset:
    found = _dataset_files(source, root, download)
    train = [_read_cifar_batch(found[key], label_key) for key in found if key != "test"]
    x_test, y_test = _read_cifar_batch(found["test"], label_key)
    x_train = np.concatenate([images for images, _ in train])
    y_train = np.concatenate([labels for _, labels in train])

    def channel_last(images: np.ndarray) -> torch.Tensor:
        # each row is the 1024 red values, then the green, then the blue, each 32x32 row-major
        return _pixels(images.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))

    return from_arrays(channel_last(x_train), y_train, channel_last(x_test), y_test,
                       image_shape=(32, 32, 3), name=name)


def cifar10(root: str | os.PathLike[str] | None = None, download: bool = False) -> Dataset:
    """CIFAR-10 (50 000 train / 10 000 test 32×32 colour images, 10 classes).

    Reads the python version of the official archive (``cifar-10-python.tar.gz`` from
    https://www.cs.toronto.edu/~kriz/cifar.html), extracted: the folder
    ``cifar-10-batches-py/`` with the pickled batches ``data_batch_1`` … ``data_batch_5``
    (train, in that order) and ``test_batch``. It is looked for, in order, in ``root`` (the
    batches themselves), ``root/cifar/cifar-10-batches-py``, ``root/cifar-10-batches-py`` (a
    torchvision root), the same two under ``$GRAPHENS_DATA``, and
    ``~/.cache/graphens/cifar-10-batches-py``. Each batch holds ``b"data"``, ``uint8 [n, 3072]``
    channel-first (1024 red, 1024 green, 1024 blue values, each image row-major), and
    ``b"labels"``; the images are returned channel-last, ``image_shape = (32, 32, 3)``, with
    pixels divided by 255 into ``[0, 1]``. The pickles are read allowing only numpy arrays and
    bytes, so a tampered file cannot run code.

    Parameters
    ----------
    root : path-like, optional
        A folder to search first.
    download : bool
        If the batches are not found, download them with ``torchvision.datasets.CIFAR10`` (needs
        torchvision, ``pip install 'graphens[download]'``, and network access) into ``root``,
        else ``$GRAPHENS_DATA``, else ``~/.cache/graphens``.

    Returns
    -------
    Dataset
        Named ``"cifar10"``.

    Raises
    ------
    GraphensError
        If the batches cannot be found (or downloaded), or a file is not a CIFAR batch; the
        message lists the folders searched, the archive's URL and where to extract it.
    """
    return _cifar_dataset(_CIFAR10, "cifar10", root, download, b"labels")


def cifar100(root: str | os.PathLike[str] | None = None, download: bool = False,
             labels: str = "fine") -> Dataset:
    """CIFAR-100 (50 000 train / 10 000 test 32×32 colour images, 100 classes in 20 superclasses).

    Reads the python version of the official archive (``cifar-100-python.tar.gz`` from
    https://www.cs.toronto.edu/~kriz/cifar.html), extracted: the folder ``cifar-100-python/``
    with the pickled ``train`` and ``test`` files, looked for as :func:`cifar10`'s
    (``root``, ``root/cifar/cifar-100-python``, ``root/cifar-100-python``, the same two under
    ``$GRAPHENS_DATA``, ``~/.cache/graphens/cifar-100-python``). Images as :func:`cifar10`'s.

    Parameters
    ----------
    root : path-like, optional
        A folder to search first.
    download : bool
        If the files are not found, download them with ``torchvision.datasets.CIFAR100`` (needs
        torchvision and network access) into ``root``, else ``$GRAPHENS_DATA``, else
        ``~/.cache/graphens``.
    labels : {"fine", "coarse"}
        The 100 classes (``b"fine_labels"``) or the 20 superclasses (``b"coarse_labels"``).

    Returns
    -------
    Dataset
        Named ``"cifar100"``.

    Raises
    ------
    GraphensError
        For another ``labels``, missing files (the message lists the folders searched, the
        archive's URL and where to extract it) or a file that is not a CIFAR batch.
    """
    check_value("labels", labels, [Options(("fine", "coarse"))],
                hint="fine: the 100 classes, coarse: the 20 superclasses")
    return _cifar_dataset(_CIFAR100, "cifar100", root, download, f"{labels}_labels".encode())


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------

def load_dataset(name: str, **kwargs: Any) -> Dataset:
    """Load a vision dataset of the registry (:data:`graphens.datasets.DATASETS`) by name.

    Parameters
    ----------
    name : str
        ``"digits"``, ``"fashion-mnist"`` or another registered vision dataset; case and
        ``_``/``-`` are not significant.
    **kwargs
        Passed to the loader (e.g. ``seed`` for ``digits``, ``root`` for ``fashion-mnist``).

    Raises
    ------
    GraphensError
        For an unknown name (the message lists the known ones), a neural dataset, or an
        argument the loader does not take.
    """
    from graphens.datasets import dataset_entry

    entry, _ = dataset_entry(name)
    if entry.modality != "vision":
        raise GraphensError(f"dataset {name!r} is {entry.modality} data; load it with "
                            "graphens.neural.modality.load_recording.")
    loader = entry.load_function()
    accepted = inspect.signature(loader).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values()):
        unknown = sorted(set(kwargs) - set(accepted))
        if unknown:
            raise GraphensError(
                f"dataset {entry.name!r} does not take the argument(s) {', '.join(unknown)}; "
                f"it accepts: {', '.join(accepted) or 'no arguments'}."
            )
    return loader(**kwargs)
