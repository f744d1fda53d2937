"""NWB files written by pynwb load into a Recording and train end to end."""

import json
from datetime import datetime, timezone

import numpy as np
import pynwb
import pytest
from pynwb.epoch import TimeIntervals  # noqa: E402

from graphens.cli import main
from graphens.config import RunConfig
from graphens.errors import GraphensError
from graphens.experiment import run
from graphens.neural.nwb import load_nwb

AREAS = ["VISp", "VISl", "LGd"]
FRAME = 0.05  # seconds per bin


def new_file():
    return pynwb.NWBFile(session_description="graphens test", identifier="graphens-test",
                         session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc))


def add_units(nwb, rng, with_area=True, n_per_area=4, duration=30.0):
    if with_area:
        nwb.add_unit_column("location", "brain area of the unit")
    for a, area in enumerate(AREAS):
        for _ in range(n_per_area + a):
            spikes = np.sort(rng.uniform(0, duration, rng.integers(50, 400)))
            nwb.add_unit(spike_times=spikes, **({"location": area} if with_area else {}))


def write(nwb, path):
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


def trial_file(path, rng, **kw):
    """Trials table: 2 movies x 5 repeats of 0.4 s (8 bins of 50 ms), a stimulus column."""
    nwb = new_file()
    add_units(nwb, rng, **kw)
    nwb.add_trial_column("stimulus", "movie shown")
    t = 0.0
    for _ in range(5):
        for movie in ("movie_a", "movie_b"):
            nwb.add_trial(start_time=t, stop_time=t + 0.4, stimulus=movie)
            t += 0.5
    return write(nwb, path)


@pytest.fixture(scope="module")
def trials_nwb(tmp_path_factory):
    return trial_file(tmp_path_factory.mktemp("nwb") / "trials.nwb", np.random.default_rng(0))


def test_trials_table_loads_into_bins(trials_nwb):
    rec = load_nwb(trials_nwb, bin_size=FRAME)
    assert rec.areas == AREAS
    assert [len(u) for u in rec.area_units()] == [4, 5, 6]
    assert rec.stimulus_names == ["movie_a", "movie_b"]
    trials = rec.trials()
    assert len(trials) == 10 and set((trials[:, 3] - trials[:, 2]).tolist()) == {8}
    assert sorted(set(rec.trial.tolist())) == [0, 1, 2, 3, 4]
    # Counts are the spikes of each unit in each bin.
    with pynwb.NWBHDF5IO(str(trials_nwb), "r") as io:
        spikes = io.read().units["spike_times"][0]
    assert rec.counts[0, 0] == ((spikes >= 0) & (spikes < FRAME)).sum()


def test_a_file_that_is_not_nwb_is_one_line(tmp_path, capsys):
    path = tmp_path / "notes.nwb"
    path.write_text("not an HDF5 file")
    with pytest.raises(GraphensError, match="is not a readable NWB file"):
        load_nwb(path)
    assert main(["train", "--dataset", f"nwb:{path}", "--out", str(tmp_path / "run"),
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_nwb_file_trains_end_to_end(trials_nwb, tmp_path):
    config = RunConfig(dataset=f"nwb:{trials_nwb}", dataset_params={"bin_size": FRAME},
                       epochs=2, batch_size=16, device="cpu", topology="ring")
    results = run(config, tmp_path, progress=False)
    assert results["node_names"] == AREAS
    assert results["data"]["windows"] == {"train": 42, "val": 14, "test": 14}
    assert json.loads((tmp_path / "results.json").read_text())["num_nodes"] == 3


def test_cli_trains_an_nwb_file(trials_nwb, tmp_path, capsys):
    code = main(["train", "--modality", "neural", "--dataset", f"nwb:{trials_nwb}",
                 "--dataset-param", f"bin_size={FRAME}", "--epochs", "1", "--batch-size", "16",
                 "--quiet", "--out", str(tmp_path)])
    assert code == 0
    assert "stimulus chance" in capsys.readouterr().out


def test_frame_presentation_tables_give_one_bin_per_frame(tmp_path):
    rng = np.random.default_rng(1)
    nwb = new_file()
    add_units(nwb, rng)
    table = TimeIntervals(name="movie_presentations", description="one row per frame")
    table.add_column("frame", "frame index")
    table.add_column("stimulus_name", "movie")
    t = 0.0
    for _ in range(5):  # 5 repeats of a 6-frame movie, then 5 of another
        for f in range(6):
            table.add_row(start_time=t, stop_time=t + FRAME, frame=f, stimulus_name="m1")
            t += FRAME
    for _ in range(5):
        for f in range(4):
            table.add_row(start_time=t, stop_time=t + FRAME, frame=f, stimulus_name="m2")
            t += FRAME
    nwb.add_time_intervals(table)
    rec = load_nwb(write(nwb, tmp_path / "frames.nwb"))
    assert rec.num_bins == 50 and rec.stimulus_names == ["m1", "m2"]
    assert rec.trials()[:, :2].tolist() == [[0, r] for r in range(5)] + [[1, r] for r in range(5)]


def test_missing_units_or_areas_or_bins_are_named(tmp_path, trials_nwb):
    rng = np.random.default_rng(2)
    nwb = new_file()
    nwb.add_trial(start_time=0.0, stop_time=1.0)
    with pytest.raises(GraphensError, match="no units table"):
        load_nwb(write(nwb, tmp_path / "nounits.nwb"), bin_size=FRAME)
    with pytest.raises(GraphensError, match="no brain-area labels"):
        load_nwb(trial_file(tmp_path / "noarea.nwb", rng, with_area=False), bin_size=FRAME)
    with pytest.raises(GraphensError, match="bin_size"):
        load_nwb(trials_nwb)
    with pytest.raises(GraphensError, match="no intervals table 'gratings'"):
        load_nwb(trials_nwb, bin_size=FRAME, intervals=["gratings"])
