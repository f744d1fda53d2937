"""A run directory is claimed before any compute and never overwritten without asking."""

import json
import os

import pytest

from graphens.config import RunConfig
from graphens.errors import GraphensError
from graphens.run_dir import claim_run_dir


def _finished(out, config):
    claim_run_dir(out, config)
    (out / "results.json").write_text(json.dumps({"config": json.loads(
        (out / "run.json").read_text())["config"]}))
    (out / "checkpoint.pt").write_bytes(b"state")


def test_a_fresh_directory_is_claimed_with_run_json(tmp_path):
    out = claim_run_dir(tmp_path / "a" / "b", RunConfig(epochs=2))
    assert json.loads((out / "run.json").read_text())["config"]["epochs"] == 2


def test_another_run_is_refused_naming_the_fields_and_left_untouched(tmp_path):
    _finished(tmp_path, RunConfig(epochs=2))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    for resume in (False, True):
        with pytest.raises(GraphensError, match=r"holds another run \(seed: 0 -> 4; "
                                                r"tau: 0.01 -> 1.0\).*--overwrite"):
            claim_run_dir(tmp_path, RunConfig(epochs=2, seed=4, tau=1.0), resume=resume)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_the_same_run_needs_resume_or_overwrite(tmp_path):
    _finished(tmp_path, RunConfig(epochs=2))
    with pytest.raises(GraphensError, match="already holds this run.*--resume"):
        claim_run_dir(tmp_path, RunConfig(epochs=2))
    claim_run_dir(tmp_path, RunConfig(epochs=5), resume=True)  # epochs may grow
    assert (tmp_path / "checkpoint.pt").exists()


def test_overwrite_removes_only_the_run_files(tmp_path):
    _finished(tmp_path, RunConfig(epochs=2))
    (tmp_path / "notes.txt").write_text("mine")
    claim_run_dir(tmp_path, RunConfig(seed=9), overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "run.json"]


def test_a_run_stopped_before_its_first_epoch_can_be_replaced(tmp_path):
    claim_run_dir(tmp_path, RunConfig(dataset="nwb:typo.nwb"))
    claim_run_dir(tmp_path, RunConfig(seed=1))
    assert json.loads((tmp_path / "run.json").read_text())["config"]["seed"] == 1


def test_results_without_a_checkpoint_cannot_be_extended(tmp_path):
    _finished(tmp_path, RunConfig(epochs=2))
    (tmp_path / "checkpoint.pt").unlink()
    with pytest.raises(GraphensError, match="no checkpoint.pt to continue from"):
        claim_run_dir(tmp_path, RunConfig(epochs=4), resume=True)


@pytest.mark.parametrize("where,message", [
    ("file", "is a file"),
    ("/proc/graphens-x", "cannot be written"),
    ("/dev/null/x", "cannot be written"),
])
def test_unusable_directories_are_one_line_errors(tmp_path, where, message):
    if where == "file":
        where = tmp_path / "file"
        where.write_text("x")
    with pytest.raises(GraphensError, match=message) as err:
        claim_run_dir(where, RunConfig())
    assert "\n" not in str(err.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_directory_is_refused(tmp_path):
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(GraphensError, match="cannot be written"):
            claim_run_dir(tmp_path / "x", RunConfig())
    finally:
        tmp_path.chmod(0o700)


def test_a_damaged_run_json_is_an_error_and_is_kept(tmp_path):
    _finished(tmp_path, RunConfig())
    (tmp_path / "run.json").write_text("{not json")
    with pytest.raises(GraphensError, match="damaged"):
        claim_run_dir(tmp_path, RunConfig(), resume=True)
    assert (tmp_path / "run.json").read_text() == "{not json"


def test_a_run_written_before_new_fields_existed_is_the_same_run(tmp_path):
    config = RunConfig(epochs=2)
    old = {k: v for k, v in json.loads(json.dumps(config.identity())).items()
           if k not in ("modality", "objective", "bins", "frame_groups", "decode_frames")}
    (tmp_path / "results.json").write_text(json.dumps({"config": old}))
    (tmp_path / "checkpoint.pt").write_bytes(b"state")
    claim_run_dir(tmp_path, config, resume=True)  # not "another run"
    with pytest.raises(GraphensError, match=r"another run \(seed: 0 -> 1\)"):
        claim_run_dir(tmp_path, RunConfig(epochs=2, seed=1), resume=True)
