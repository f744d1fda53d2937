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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from graphens.errors import GraphensError

__all__ = [
    "FASHION_MNIST_FILES",
    "FASHION_MNIST_SYSTEM_DIR",
    "Dataset",
    "digits",
    "fashion_mnist",
    "from_arrays",
    "load_dataset",
    "read_idx",
]

#: Where the Debian package ``dataset-fashion-mnist`` installs the (gzipped) idx files.
FASHION_MNIST_SYSTEM_DIR = "/usr/share/datasets/fashion-mnist"

#: The four idx files of Fashion-MNIST (each may also be present with a ``.gz`` suffix).
FASHION_MNIST_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}

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


def _find_idx_file(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _default_download_dir() -> Path:
    env = os.environ.get("GRAPHENS_DATA")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "graphens"


def _fashion_mnist_search_dirs(root: str | os.PathLike[str] | None) -> list[Path]:
    dirs: list[Path] = []
    if root is not None:
        base = Path(root).expanduser()
        dirs += [base, base / "fashion-mnist", base / "FashionMNIST" / "raw"]
    env = os.environ.get("GRAPHENS_DATA")
    if env:
        base = Path(env).expanduser()
        dirs += [base, base / "fashion-mnist", base / "FashionMNIST" / "raw"]
    dirs.append(Path(FASHION_MNIST_SYSTEM_DIR))
    # Where download=True puts the files (torchvision's layout) when GRAPHENS_DATA is unset.
    dirs.append(Path.home() / ".cache" / "graphens" / "FashionMNIST" / "raw")
    seen: set[Path] = set()
    unique = []
    for d in dirs:
        if d not in seen:
            seen.add(d)
            unique.append(d)
    return unique


def _locate_fashion_mnist(dirs: list[Path]) -> dict[str, Path] | None:
    for folder in dirs:
        found = {key: _find_idx_file(folder, stem) for key, stem in FASHION_MNIST_FILES.items()}
        if all(p is not None for p in found.values()):
            return found  # type: ignore[return-value]
    return None


def fashion_mnist(root: str | os.PathLike[str] | None = None, download: bool = False) -> Dataset:
    """Fashion-MNIST (60 000 train / 10 000 test 28×28 grey images, 10 classes).

    The four idx files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each plain or ``.gz``) are looked
    for, in order, in ``root``, ``$GRAPHENS_DATA``, ``$GRAPHENS_DATA/fashion-mnist`` (each also
    in torchvision's ``FashionMNIST/raw`` sub-folder), ``/usr/share/datasets/fashion-mnist``
    (the Debian package ``dataset-fashion-mnist``) and ``~/.cache/graphens/FashionMNIST/raw``.
    Pixels are divided by 255 into ``[0, 1]``; ``image_shape = (28, 28, 1)``.

    Parameters
    ----------
    root : path-like, optional
        A folder to search first.
    download : bool
        If the files are not found, download them with ``torchvision.datasets.FashionMNIST``
        (needs torchvision and network access) into ``$GRAPHENS_DATA`` or
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
    dirs = _fashion_mnist_search_dirs(root)
    found = _locate_fashion_mnist(dirs)
    if found is None and download:
        found = _download_fashion_mnist(dirs)
    if found is None:
        searched = ", ".join(str(d) for d in dirs)
        raise GraphensError(
            "Fashion-MNIST idx files (train-images-idx3-ubyte[.gz] and the other three) were not "
            f"found; searched: {searched}. Install them with `apt-get install "
            "dataset-fashion-mnist`, or set GRAPHENS_DATA to a folder holding the idx files, or "
            "pass download=True with torchvision installed."
        )
    arrays = {key: read_idx(path) for key, path in found.items()}
    for key in ("x_train", "x_test"):
        if arrays[key].ndim != 3 or arrays[key].shape[1:] != (28, 28):
            raise GraphensError(
                f"{found[key]} holds an array of shape {arrays[key].shape}, not [n, 28, 28] "
                "images; replace it with the original Fashion-MNIST file."
            )
    x_train = torch.from_numpy(arrays["x_train"].reshape(-1, 784)).to(torch.float32) / 255.0
    x_test = torch.from_numpy(arrays["x_test"].reshape(-1, 784)).to(torch.float32) / 255.0
    return from_arrays(
        x_train,
        arrays["y_train"],
        x_test,
        arrays["y_test"],
        image_shape=(28, 28, 1),
        name="fashion-mnist",
    )


def _download_fashion_mnist(dirs: list[Path]) -> dict[str, Path] | None:
    try:
        from torchvision.datasets import FashionMNIST  # type: ignore[import-not-found]
    except ImportError:
        return None
    target = _default_download_dir()
    target.mkdir(parents=True, exist_ok=True)
    try:
        FashionMNIST(str(target), train=True, download=True)
        FashionMNIST(str(target), train=False, download=True)
    except Exception as exc:  # network errors come in many types
        raise GraphensError(
            f"downloading Fashion-MNIST into {target} failed ({exc}); install the files with "
            "`apt-get install dataset-fashion-mnist` or set GRAPHENS_DATA to a folder holding "
            "the idx files."
        ) from exc
    return _locate_fashion_mnist([target / "FashionMNIST" / "raw", target])


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
