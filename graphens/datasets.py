"""The dataset registry: each dataset's modality, loader and recommended run settings.

A run names its data by a string: a registry key (``digits``, ``fashion-mnist``,
``synthetic``) or a key with an argument (``nwb:PATH``, ``allen:SESSION``). The entry says which
modality reads it (vision or neural), how to load it, and the settings that make CLoSeR train on
it. :class:`graphens.config.RunConfig` fills every field the user leaves unset from the entry's
``defaults``, then from the modality's, so the Python API, ``graphens train`` and sweep specs
give the same run for the same arguments.

Adding a dataset is one :class:`DatasetEntry` in :data:`DATASETS` (or
:func:`register_dataset`): a loader returning the modality's data object and, where the paper's
settings do not suit it, its recommended settings.

Why digits differ from the vision defaults (d 0.1, τ 0.1; the paper's τ is 10): digits are 8×8,
so d = 0.1 leaves 6 pixels per node, and their small initial embeddings (std ≈ 0.01) need a
sharper softmax; τ = 10 puts them in its flat part, where gradients (≈ 1e-9) sit below NAdam's
ε and the loss stays at log B for many epochs. d 0.5 and τ 0.01 are the τ × d grid's best
(docs/choosing_tau_and_d.md): the highest agreement and the largest single-node gain over
untrained nodes, the one that survives Holm at 40 epochs; at d 0.25, the earlier default, the
nodes agree but decode 2 pt worse than untrained ones after 10 epochs.
The synthetic population's settings are those under which temporal CLoSeR decodes the movie
above the untrained baseline (docs/neural.md).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from graphens.errors import GraphensError

MODALITIES = ("vision", "neural")


@dataclass(frozen=True)
class DatasetEntry:
    """One dataset: where it is read from and how to run on it.

    Parameters
    ----------
    name : str
        Registry key (lower case, ``-`` between words).
    modality : {"vision", "neural"}
        Which pipeline reads it.
    loader : str
        ``"module:function"``, imported only when the data are loaded. The function takes the
        entry's argument first when ``argument`` is set (``load_nwb(path, **params)``), then
        ``dataset_params`` as keywords.
    argument : str, optional
        Name of the required argument after ``NAME:`` (e.g. ``"PATH"``); ``None`` for none.
    defaults : mapping
        Recommended :class:`~graphens.config.RunConfig` values for this dataset.
    about : str
        One line for listings and errors.
    """

    name: str
    modality: str
    loader: str
    argument: str | None = None
    defaults: Mapping[str, Any] = field(default_factory=dict)
    about: str = ""

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise GraphensError(f"dataset {self.name!r}: modality {self.modality!r} is not one "
                                f"of {', '.join(MODALITIES)}.")
        object.__setattr__(self, "defaults", MappingProxyType(dict(self.defaults)))

    @property
    def usage(self) -> str:
        return f"{self.name}:{self.argument}" if self.argument else self.name

    def load_function(self) -> Callable[..., Any]:
        module, _, function = self.loader.partition(":")
        return getattr(importlib.import_module(module), function)


DATASETS: dict[str, DatasetEntry] = {}


def register_dataset(entry: DatasetEntry) -> DatasetEntry:
    """Add (or replace) a registry entry; returns it."""
    DATASETS[entry.name] = entry
    return entry


for _entry in (
    DatasetEntry("digits", "vision", "graphens.data:digits",
                 defaults={"rf_fraction": 0.5, "tau": 0.01, "epochs": 10},
                 about="sklearn's 8x8 digits, bundled with scikit-learn (offline)"),
    DatasetEntry("fashion-mnist", "vision", "graphens.data:fashion_mnist",
                 about="idx files in $GRAPHENS_DATA or /usr/share/datasets/fashion-mnist"),
    DatasetEntry("mnist", "vision", "graphens.data:mnist",
                 about="idx files in $GRAPHENS_DATA/mnist (download=True: torchvision)"),
    DatasetEntry("cifar10", "vision", "graphens.data:cifar10",
                 about="python batches in $GRAPHENS_DATA/cifar/cifar-10-batches-py "
                       "(download=True: torchvision)"),
    DatasetEntry("cifar100", "vision", "graphens.data:cifar100",
                 about="python files in $GRAPHENS_DATA/cifar/cifar-100-python; "
                       "dataset_params labels=fine|coarse (download=True: torchvision)"),
    # a user's own images, given to graphens.run(config, dataset=from_arrays(...)): the
    # vision defaults, and "arrays" (not "digits") in the results
    DatasetEntry("arrays", "vision", "graphens.data:passed_arrays",
                 about="your own images: graphens.run(RunConfig(dataset='arrays'), "
                       "dataset=graphens.data.from_arrays(...))"),
    DatasetEntry("synthetic", "neural", "graphens.neural.synthetic:synthetic_population",
                 defaults={"dataset_params": {"noise": 0.5, "rate": 2.0, "trials": 15},
                           "epochs": 150},
                 about="a synthetic multi-area Poisson population watching 3 movies (offline)"),
    DatasetEntry("nwb", "neural", "graphens.neural.nwb:load_nwb", argument="PATH",
                 about="an NWB file (pip install 'graphens[neural]')"),
    DatasetEntry("allen", "neural", "graphens.neural.allen:load_allen", argument="SESSION",
                 defaults={"epochs": 200},
                 about="an Allen Brain Observatory Neuropixels session "
                       "(pip install 'graphens[allen]')"),
):
    register_dataset(_entry)


def dataset_entry(spec: str) -> tuple[DatasetEntry, str | None]:
    """The registry entry of ``spec`` (``"digits"``, ``"nwb:session.nwb"``) and its argument.

    Case and ``_``/``-`` in the name are not significant.

    Raises
    ------
    GraphensError
        For an unknown name, a missing argument or an argument the dataset does not take.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise GraphensError(f"dataset={spec!r} must be a dataset name; known: {known_datasets()}.")
    name, sep, argument = spec.strip().partition(":")
    key = name.strip().lower().replace("_", "-")
    entry = DATASETS.get(key)
    if entry is None:
        raise GraphensError(f"unknown dataset {spec!r}; known: {known_datasets()}.")
    if entry.argument and not argument:
        raise GraphensError(f"dataset {spec!r} needs its {entry.argument}: "
                            f"--dataset {entry.name}:{entry.argument}.")
    if not entry.argument and sep:
        raise GraphensError(f"dataset {entry.name!r} takes no argument after ':' (got {spec!r}).")
    return entry, (argument or None)


def known_datasets() -> str:
    return ", ".join(entry.usage for entry in DATASETS.values())
