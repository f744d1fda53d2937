"""Sweep specifications: read, check and expand into trials.

A spec is a TOML, YAML or JSON file, or the same structure as a Python dict::

    name = "ring-vs-random"            # optional; default: the file's stem
    keep = "ensemble"                  # results | ensemble | all (what stays in each trial dir)
    measures = true                    # optional: CKA, alignment, agreement per trial (or a
                                       # table {max_samples = 1000, seed = 0}); table columns
                                       # measures.<name>.edges / .non_edges / .all_pairs

    [fixed]                            # run fields shared by every trial
    dataset = "digits"
    hidden = [32]
    dim = 16
    epochs = 1

    [axes]                             # run fields swept: their product
    seed = [0, 1]
    rf_fraction = [0.1, 0.25]

    [[topologies]]                     # one entry per topology family (or variant)
    name = "ring"

    [[topologies]]
    name = "gnk"
    label = "G_N^k"                    # how reports name it; default: name
    stop_gradient = "teacher"          # a run field fixed for this entry only
    params = { normalize = "none" }    # fixed topology parameters
    axes = { k = [10, 20] }            # swept within this entry: topology params or run fields

Run fields are those of :class:`graphens.experiment.RunConfig` (``graphens train`` flags),
plus ``max_train`` / ``max_test``: train on a seeded random subset of that many training
images (decode on that many test images), the same subset for every trial. The aliases
``N`` (nodes), ``d`` (rf_fraction), ``seeds``, ``baselines``, ``datasets`` are accepted.
Fields set nowhere take the dataset's recommended values (:mod:`graphens.datasets`; digits:
d 0.25, tau 0.05, 10 epochs), then the modality's, exactly as ``graphens train`` and
:class:`~graphens.config.RunConfig` do; neural datasets (``dataset = "synthetic"``) sweep too.

The trials are, for every topology entry in order, the product of the global axes (an entry's
own ``axes`` or fixed fields replace global axes of the same name) and the entry's axes.
Each trial's id is a short SHA-256 of the canonical JSON of its run identity
(:meth:`RunConfig.identity`, i.e. everything but the device) and its data subset, so the same
configuration has the same id in every spec, session and machine.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from graphens.errors import GraphensError

#: Top-level keys of a spec.
SPEC_KEYS = ("name", "description", "keep", "measures", "fixed", "axes", "topologies",
             "resources")
#: Options of ``measures = {...}`` (:func:`graphens.measures.measure_run`).
MEASURE_KEYS = ("max_samples", "seed")
#: Keys of one ``topologies`` entry besides run fields.
ENTRY_KEYS = ("name", "label", "params", "axes")
#: What stays in each trial's directory once it has finished.
KEEP = ("results", "ensemble", "all")
#: Trial fields that are not :class:`RunConfig` fields.
EXTRA_FIELDS = ("max_train", "max_test")
#: Friendly names accepted for run fields.
ALIASES = {"N": "nodes", "d": "rf_fraction", "seeds": "seed", "baselines": "baseline",
           "datasets": "dataset", "receptive_field": "rf"}
#: Run fields a spec sets through ``topologies`` only.
TOPOLOGY_FIELDS = ("topology", "topology_params")
#: Keys of the ``resources`` table: per-trial resource requests for the Ray executor.
RESOURCE_KEYS = ("cpus", "gpus", "retries")

_ID_LENGTH = 12


@dataclass(frozen=True)
class Trial:
    """One run of a sweep.

    Attributes
    ----------
    id : str
        Stable hash of the run's identity and data subset.
    config : RunConfig
        The run.
    label : str
        The topology entry's label (for reports); not part of the id.
    extras : dict
        ``max_train`` / ``max_test`` when set.
    """

    id: str
    config: Any  # graphens.experiment.RunConfig (imported lazily: torch is heavy)
    label: str
    extras: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """JSON-ready description of the trial."""
        from dataclasses import asdict
        return {"id": self.id, "label": self.label, "config": asdict(self.config),
                "extras": dict(self.extras)}


@dataclass
class SweepSpec:
    """A checked spec and its expansion; ``spec`` is the canonical form (loadable again)."""

    name: str
    spec: dict[str, Any]
    trials: list[Trial]
    keep: str = "ensemble"
    resources: dict[str, Any] = field(default_factory=dict)
    duplicates: int = 0  #: trials that expanded twice and were kept once
    #: Options of the cross-encoder measures taken after each trial; None: not taken.
    measures: dict[str, Any] | None = None

    @property
    def ids(self) -> list[str]:
        return [trial.id for trial in self.trials]


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def read_spec_file(path: str | Path) -> dict[str, Any]:
    """Parse a ``.toml``, ``.yaml``/``.yml`` or ``.json`` spec file into a dict."""
    path = Path(path)
    if not path.is_file():
        raise GraphensError(f"sweep spec {str(path)!r} does not exist; give a .toml, .yaml or "
                            ".json file (see docs/studying_connectivity.md).")
    suffix = path.suffix.lower()
    text = path.read_text(encoding="utf-8")
    try:
        if suffix == ".toml":
            data = _toml_loads(text)
        elif suffix in (".yaml", ".yml"):
            data = _yaml_loads(text, path)
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise GraphensError(f"sweep spec {str(path)!r} has suffix {suffix or '(none)'!r}; "
                                "use .toml, .yaml, .yml or .json.")
    except GraphensError:
        raise
    except Exception as err:  # each parser has its own error type
        raise GraphensError(f"cannot parse sweep spec {str(path)!r}: {err}") from None
    if data is None or data == {}:
        raise GraphensError(f"sweep spec {str(path)!r} is empty: give run fields under "
                            "[fixed], swept ones under [axes], or [[topologies]] entries (see "
                            "docs/studying_connectivity.md).")
    if not isinstance(data, dict):
        raise GraphensError(f"sweep spec {str(path)!r} must hold a table/mapping at the top "
                            f"level, not {type(data).__name__}.")
    data.setdefault("name", path.stem)
    return data


def _toml_loads(text: str) -> dict[str, Any]:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError:
            raise GraphensError("reading TOML specs on Python 3.10 needs the tomli package "
                                "(pip install tomli), or use a .json/.yaml spec.") from None
    return tomllib.loads(text)


def _yaml_loads(text: str, path: Path) -> Any:
    try:
        import yaml
    except ImportError:
        raise GraphensError(f"sweep spec {str(path)!r} is YAML but PyYAML is not installed; "
                            "pip install pyyaml (or graphens[sweep]), or write it as "
                            "TOML.") from None
    return yaml.safe_load(text)


def load_spec(spec: str | Path | Mapping[str, Any] | SweepSpec) -> SweepSpec:
    """Read (if a path), check and expand a sweep spec.

    Parameters
    ----------
    spec : path, dict or SweepSpec
        A spec file, the same structure as a dict, or an already loaded spec.

    Returns
    -------
    SweepSpec
        The normalised spec and its trials, in expansion order, duplicates removed.

    Raises
    ------
    GraphensError
        For unknown keys, axes or values (the message names them and lists the valid ones),
        and for an empty product.
    """
    if isinstance(spec, SweepSpec):
        return spec
    if isinstance(spec, (str, Path)):
        raw = read_spec_file(spec)
    elif isinstance(spec, Mapping):
        raw = copy.deepcopy(dict(spec))
    else:
        raise GraphensError(f"a sweep spec is a file path or a dict, not {type(spec).__name__}.")
    return expand(normalize_spec(raw))


# --------------------------------------------------------------------------------------------
# Checking
# --------------------------------------------------------------------------------------------


def run_fields() -> dict[str, Any]:
    """Name -> default of every field a spec may set (RunConfig's and the extras)."""
    from graphens.config import RunConfig

    names = {f.name: f for f in fields(RunConfig)}
    out: dict[str, Any] = {}
    for name, spec_field in names.items():
        if name in TOPOLOGY_FIELDS:
            continue
        out[name] = (spec_field.default_factory() if callable(spec_field.default_factory)
                     else spec_field.default)
    for name in EXTRA_FIELDS:
        out[name] = None
    return out


def _canonical_field(name: str, where: str) -> str:
    name = ALIASES.get(name, name)
    if name in TOPOLOGY_FIELDS:
        raise GraphensError(f"{where}: {name!r} is set through [[topologies]] entries (name, "
                            "params, axes), not as a run field.")
    valid = run_fields()
    if name not in valid:
        raise GraphensError(f"{where}: unknown run field {name!r}; valid fields are "
                            f"{', '.join(sorted(valid))} (aliases: "
                            f"{', '.join(f'{a}={b}' for a, b in ALIASES.items())}).")
    return name


def check_value(name: str, value: Any, where: str) -> Any:
    """Check one run-field value against :class:`~graphens.config.RunConfig`'s constraints
    (:mod:`graphens.validation`) and return it in canonical form."""
    from graphens.config import FIELD_CONSTRAINTS, FIELD_HINTS
    from graphens.datasets import dataset_entry
    from graphens.validation import Interval
    from graphens.validation import check_value as check

    if name == "stop_gradient" and value == "none":
        return None
    if name == "hidden":
        if isinstance(value, str):
            parts = [p.strip() for p in value.split(",") if p.strip()]
            value = [int(p) for p in parts] if all(p.isdigit() for p in parts) else value
        if isinstance(value, int) and not isinstance(value, bool):
            value = [value]
    try:
        if name in EXTRA_FIELDS:
            return check(name, value, [Interval("int", 2, None), None],
                         "a subset size of at least 2 samples")
        if name == "dataset" and isinstance(value, str):
            dataset_entry(value)
            return value
        value = check(name, value, FIELD_CONSTRAINTS[name], FIELD_HINTS.get(name, ""))
    except GraphensError as err:
        raise GraphensError(f"{where}: {err}") from None
    if name == "hidden":
        return [int(h) for h in value]
    if isinstance(value, int) and not isinstance(value, bool) and name in ("tau", "lr",
                                                                         "rf_fraction", "dropout"):
        return float(value)
    return value


def _check_topology(name: Any, where: str) -> str:
    from graphens.topology import TOPOLOGIES, graph_decides_nodes

    if not isinstance(name, str) or not name:
        raise GraphensError(f"{where}: every topology entry needs a name (a family, "
                            f"connectome:NAME or file), got {name!r}.")
    if name not in TOPOLOGIES and not graph_decides_nodes(name):
        raise GraphensError(f"{where}: unknown topology {name!r}; choose one of "
                            f"{', '.join(sorted(TOPOLOGIES))}, connectome:NAME or file.")
    return name


def _topology_param_names(name: str) -> set[str] | None:
    """The parameters the family accepts (None: any, for connectomes and files)."""
    from graphens.topology import graph_decides_nodes, topology_params

    if graph_decides_nodes(name):
        return None
    return {*topology_params(name), "normalize"}


def _check_param(topology: str, key: str, value: Any, where: str) -> Any:
    from graphens.topology.weights import NORMALIZATIONS

    allowed = _topology_param_names(topology)
    if allowed is not None and key not in allowed:
        raise GraphensError(f"{where}: topology {topology!r} has no parameter {key!r}; it "
                            f"accepts {', '.join(sorted(allowed))}.")
    if key == "normalize" and value not in (None, *NORMALIZATIONS):
        raise GraphensError(f"{where}: normalize={value!r} is not valid; choose one of "
                            f"{', '.join(NORMALIZATIONS)}.")
    return value


def _check_mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise GraphensError(f"{where} must be a table/mapping, not {type(value).__name__} "
                            f"({value!r}).")
    return dict(value)


def _check_axis(values: Any, where: str) -> list[Any]:
    if not isinstance(values, (list, tuple)):
        raise GraphensError(f"{where} must be a list of values (put a single value under "
                            f"fixed instead), got {values!r}.")
    if not values:
        raise GraphensError(f"{where} is an empty list, so the sweep has no trials; give at "
                            "least one value or drop the axis.")
    return list(values)


def _fields_table(table: dict[str, Any], where: str, axes: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in table.items():
        name = _canonical_field(str(key), where)
        if name in out:
            raise GraphensError(f"{where}: {name!r} is given twice (directly and by an alias).")
        if axes:
            out[name] = [check_value(name, v, f"{where}.{key}[{i}]")
                         for i, v in enumerate(_check_axis(value, f"{where}.{key}"))]
        else:
            out[name] = check_value(name, value, f"{where}.{key}")
    return out


def normalize_spec(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Check a raw spec and return it in canonical form (aliases resolved, entries as dicts).

    Raises
    ------
    GraphensError
        Naming the first unknown key, axis or value found, with the valid choices.
    """
    if not isinstance(raw, Mapping):
        raise GraphensError(f"a sweep spec is a mapping, not {type(raw).__name__}.")
    unknown = sorted(set(raw) - set(SPEC_KEYS))
    if unknown:
        raise GraphensError(f"sweep spec: unknown key(s) {', '.join(map(repr, unknown))}; valid "
                            f"top-level keys are {', '.join(SPEC_KEYS)} (run fields go under "
                            "[fixed] or [axes]).")
    name = raw.get("name", "sweep")
    if not isinstance(name, str) or not name.strip():
        raise GraphensError(f"sweep spec: name={name!r} must be a non-empty string.")
    keep = raw.get("keep", "ensemble")
    if keep not in KEEP:
        raise GraphensError(f"sweep spec: keep={keep!r} is not valid; choose one of "
                            f"{', '.join(KEEP)}.")
    measures = _check_measures(raw.get("measures", False))
    fixed = _fields_table(_check_mapping(raw.get("fixed"), "fixed"), "fixed", axes=False)
    axes = _fields_table(_check_mapping(raw.get("axes"), "axes"), "axes", axes=True)
    both = sorted(set(fixed) & set(axes))
    if both:
        raise GraphensError(f"sweep spec: {', '.join(both)} set both under fixed and axes; "
                            "keep one.")
    resources = _check_mapping(raw.get("resources"), "resources")
    bad = sorted(set(resources) - set(RESOURCE_KEYS))
    if bad:
        raise GraphensError(f"resources: unknown key(s) {', '.join(bad)}; valid keys are "
                            f"{', '.join(RESOURCE_KEYS)}.")
    for key, value in resources.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise GraphensError(f"resources.{key}={value!r} must be a number >= 0.")
    if not any(raw.get(key) for key in ("fixed", "axes", "topologies")):
        raise GraphensError(
            f"sweep spec {name!r} is empty: give run fields under [fixed], swept ones under "
            "[axes], or [[topologies]] entries (see docs/studying_connectivity.md).")
    entries = raw.get("topologies", ["all-to-all"])
    if not isinstance(entries, (list, tuple)):
        raise GraphensError("topologies must be a list of entries ([[topologies]] tables or "
                            f"names), not {type(entries).__name__}.")
    if not entries:
        raise GraphensError("topologies is an empty list, so the sweep has no trials; give at "
                            "least one entry, e.g. [[topologies]] name = \"all-to-all\".")
    checked = [_check_entry(entry, f"topologies[{i}]") for i, entry in enumerate(entries)]
    normalised = {"name": name.strip(), "description": str(raw.get("description", "")),
                  "keep": keep, "fixed": fixed, "axes": axes, "topologies": checked,
                  "resources": resources}
    if measures is not None:  # absent when off, so older sweep directories match
        normalised["measures"] = measures
    return normalised


def _check_measures(value: Any) -> dict[str, Any] | None:
    """``measures = true`` / ``false`` / ``{max_samples = 1000, seed = 0}``."""
    if value is False or value is None:
        return None
    if value is True:
        return {}
    if not isinstance(value, Mapping):
        raise GraphensError(f"sweep spec: measures={value!r} is not valid; give true, false or "
                            "a table of options (max_samples, seed).")
    bad = sorted(set(value) - set(MEASURE_KEYS))
    if bad:
        raise GraphensError(f"measures: unknown key(s) {', '.join(bad)}; valid keys are "
                            f"{', '.join(MEASURE_KEYS)}.")
    for key, item in value.items():
        if isinstance(item, bool) or not isinstance(item, int) or item < (2 if key ==
                                                                          "max_samples" else 0):
            raise GraphensError(f"measures.{key}={item!r} must be a whole number "
                                f"{'>= 2' if key == 'max_samples' else '>= 0'}.")
    return dict(value)


def _check_entry(entry: Any, where: str) -> dict[str, Any]:
    if isinstance(entry, str):
        entry = {"name": entry}
    if not isinstance(entry, Mapping):
        raise GraphensError(f"{where} must be a topology name or a table with name, params, "
                            f"axes, not {entry!r}.")
    entry = dict(entry)
    topology = _check_topology(entry.get("name"), where)
    label = entry.get("label", topology)
    if not isinstance(label, str) or not label:
        raise GraphensError(f"{where}: label={label!r} must be a non-empty string.")
    params = {str(k): _check_param(topology, str(k), v, f"{where}.params.{k}")
              for k, v in _check_mapping(entry.get("params"), f"{where}.params").items()}
    overrides = {k: v for k, v in entry.items() if k not in ENTRY_KEYS}
    fixed = _fields_table(overrides, where, axes=False)
    run_axes: dict[str, list[Any]] = {}
    param_axes: dict[str, list[Any]] = {}
    allowed = _topology_param_names(topology)
    for key, values in _check_mapping(entry.get("axes"), f"{where}.axes").items():
        key = str(key)
        values = _check_axis(values, f"{where}.axes.{key}")
        is_param = (key in allowed) if allowed is not None else (
            ALIASES.get(key, key) not in run_fields())
        if is_param:
            if key in params:
                raise GraphensError(f"{where}: topology parameter {key!r} is both in params "
                                    "and axes; keep one.")
            param_axes[key] = [_check_param(topology, key, v, f"{where}.axes.{key}[{i}]")
                               for i, v in enumerate(values)]
        else:
            try:
                name = _canonical_field(key, f"{where}.axes")
            except GraphensError:
                raise GraphensError(
                    f"{where}.axes: {key!r} is neither a parameter of topology {topology!r} "
                    f"({', '.join(sorted(allowed or []))}) nor a run field "
                    f"({', '.join(sorted(run_fields()))}).") from None
            if name in fixed:
                raise GraphensError(f"{where}: {name!r} is both fixed and an axis; keep one.")
            run_axes[name] = [check_value(name, v, f"{where}.axes.{key}[{i}]")
                              for i, v in enumerate(values)]
    return {"name": topology, "label": label, "params": params, "fixed": fixed,
            "axes": run_axes, "param_axes": param_axes}


# --------------------------------------------------------------------------------------------
# Expansion
# --------------------------------------------------------------------------------------------


def _product(axes: dict[str, list[Any]]) -> list[dict[str, Any]]:
    keys = list(axes)
    return [dict(zip(keys, combo, strict=True))
            for combo in itertools.product(*(axes[k] for k in keys))]


def trial_id(config: Any, extras: Mapping[str, Any] | None = None) -> str:
    """Stable short id of a run: SHA-256 of the canonical JSON of its identity and extras."""
    identity = dict(config.identity())
    identity.update({k: v for k, v in (extras or {}).items() if v is not None})
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:_ID_LENGTH]


def make_trial(values: Mapping[str, Any], topology: str, params: Mapping[str, Any],
               label: str) -> Trial:
    """Build the :class:`Trial` for one point of the product."""
    from graphens.config import RunConfig

    values = dict(values)
    extras = {k: values.pop(k) for k in EXTRA_FIELDS if values.get(k) is not None}
    for k in EXTRA_FIELDS:
        values.pop(k, None)
    if "hidden" in values:
        values["hidden"] = tuple(values["hidden"])
    # The config resolves every unset field from the dataset's and the modality's defaults,
    # exactly as the Python API and graphens train do.
    config = RunConfig(topology=topology, topology_params=dict(params), **values)
    if extras and config.modality != "vision":
        raise GraphensError(f"{', '.join(extras)} take a subset of a vision dataset's images; "
                            f"{config.dataset!r} is {config.modality} data: drop it.")
    return Trial(id=trial_id(config, extras), config=config, label=label, extras=extras)


def expand(spec: Mapping[str, Any]) -> SweepSpec:
    """The trials of a normalised spec (see :func:`normalize_spec`), duplicates dropped."""
    trials: list[Trial] = []
    seen: set[str] = set()
    duplicates = 0
    for entry in spec["topologies"]:
        overridden = set(entry["fixed"]) | set(entry["axes"])
        axes = {k: v for k, v in spec["axes"].items() if k not in overridden}
        axes.update(entry["axes"])
        for combo in _product(axes):
            for params in _product(entry["param_axes"]):
                values = {**spec["fixed"], **entry["fixed"], **combo}
                trial = make_trial(values, entry["name"], {**entry["params"], **params},
                                   entry["label"])
                if trial.id in seen:
                    duplicates += 1
                    continue
                seen.add(trial.id)
                trials.append(trial)
    if not trials:  # pragma: no cover - empty axes are refused earlier
        raise GraphensError("the sweep spec expands to no trials; check its axes.")
    return SweepSpec(name=spec["name"], spec=to_raw(spec), trials=trials, keep=spec["keep"],
                     resources=dict(spec.get("resources", {})), duplicates=duplicates,
                     measures=spec.get("measures"))


def to_raw(normalised: Mapping[str, Any]) -> dict[str, Any]:
    """A spec dict equivalent to a normalised one: aliases resolved, entries as tables.

    It is what ``DIR/spec.json`` records, and :func:`load_spec` reads it back to the same
    trials.
    """
    entries = []
    for entry in normalised["topologies"]:
        raw = {"name": entry["name"], "label": entry["label"], **entry["fixed"]}
        if entry["params"]:
            raw["params"] = entry["params"]
        axes = {**entry["axes"], **entry["param_axes"]}
        if axes:
            raw["axes"] = axes
        entries.append(raw)
    spec = {k: normalised[k] for k in ("name", "description", "keep", "measures", "fixed",
                                       "axes", "resources") if k in normalised}
    spec["topologies"] = entries
    return json.loads(json.dumps(spec))
