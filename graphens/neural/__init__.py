"""Neural data: one node per brain area, the temporal objectives, recordings (method.md §3, §7).

* :mod:`~graphens.neural.recordings` — the data model (:class:`Recording`: time × units counts,
  unit → area labels, stimulus / trial / frame per bin), trial splits and windows of ``T`` bins
  (:func:`make_windows` → :class:`NeuralData`), and the per-area receptive fields;
* :mod:`~graphens.neural.synthetic` — multi-area Poisson populations driven by shared latent
  "movies" (:func:`synthetic_population`), for offline use and tests;
* :mod:`~graphens.neural.nwb` — NWB files through pynwb (:func:`load_nwb`);
* :mod:`~graphens.neural.allen` — Allen Brain Observatory Neuropixels sessions through allensdk
  (:func:`load_allen`);
* :mod:`~graphens.neural.encoders` — the per-bin ("time-distributed") MLP;
* :mod:`~graphens.neural.objectives` — temporal CLoSeR, LPL and the temporal contrastive loss;
* :mod:`~graphens.neural.modality` — what a neural run does differently (:class:`NeuralModality`);
  runs go through :func:`graphens.experiment.run` like every other.
"""

from graphens.neural.encoders import TimeDistributed, time_distributed_mlp
from graphens.neural.modality import NeuralModality, load_recording
from graphens.neural.objectives import (
    LPLObjective,
    TemporalCLoSeRObjective,
    TemporalContrastiveObjective,
    make_temporal_objective,
)
from graphens.neural.recordings import (
    NeuralData,
    Recording,
    area_fields,
    from_arrays,
    from_spike_times,
    make_windows,
    split_trials,
)
from graphens.neural.synthetic import synthetic_population

__all__ = [
    "LPLObjective",
    "NeuralData",
    "NeuralModality",
    "Recording",
    "TemporalCLoSeRObjective",
    "TemporalContrastiveObjective",
    "TimeDistributed",
    "area_fields",
    "from_arrays",
    "from_spike_times",
    "load_recording",
    "make_temporal_objective",
    "make_windows",
    "split_trials",
    "synthetic_population",
    "time_distributed_mlp",
]
