"""Resident memory growth over 50 small trials stays <= 200 MB (slow: runs
benchmarks/memory_growth.py in a fresh process; several minutes on a loaded
2-core CPU)."""

import os
import re

import pytest

from _processes import ROOT
from _processes import finish
from _processes import start
from _processes import tail

pytestmark = pytest.mark.slow


@pytest.mark.xfail(os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow", strict=False,
                   reason="Keras/TensorFlow itself grows ~6-7 MB per fit (plain Keras loop too); "
                          "measured +302 MB over 41 trials, see docs/long_searches.md")
def test_rss_growth_over_50_trials_is_bounded(tmp_path):
    log = str(tmp_path / "log.txt")
    proc = start([os.path.join(ROOT, "benchmarks", "memory_growth.py"), "--trials", "50", "--limit-mb", "200",
                  "--directory", str(tmp_path / "run")], log)
    finish(proc, timeout=3000, log_path=log)  # exit status 1 if the growth exceeds the limit
    growth = float(re.search(r"growth after warm-up: ([-\d.]+) MB over 49 trials", tail(log)).group(1))
    assert growth <= 200.0
