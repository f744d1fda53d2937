"""The Python examples of README.md and docs/index.md run as written and their losses fall.

Each ```python block is executed in a fresh namespace in a temporary directory, with its
``epochs=N`` cut to 1 so the suite stays fast; a block that trains must end with a loss below
its first step's.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = [(path.name, i, block) for path in (ROOT / "README.md", ROOT / "docs" / "index.md")
          for i, block in enumerate(re.findall(r"```python\n(.*?)```", path.read_text(),
                                               flags=re.S))]


@pytest.mark.parametrize("name,index,code", BLOCKS, ids=[f"{n}-{i}" for n, i, _ in BLOCKS])
def test_example_runs_and_trains(name, index, code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(re.sub(r"epochs=\d+", "epochs=1", code), f"{name}[{index}]", "exec"),
         namespace)
    if "results" in namespace:
        results = namespace["results"]
        assert results["loss_history"][-1] < results["first_loss"], results["loss_history"]
        assert not [w for w in results["warnings"] if "did not fall" in w]
    if "outcome" in namespace:
        outcome = namespace["outcome"]
        assert outcome.history[-1] < outcome.first_loss, outcome.history
