"""Benchmark scripts are not a package: tests import them by path."""

import importlib.util
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="session")
def load_benchmark():
    """``load_benchmark("paper")`` is the module of ``benchmarks/paper.py``."""
    def load(name: str):
        spec = importlib.util.spec_from_file_location(f"benchmark_{name}",
                                                      BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return load
