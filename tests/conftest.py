import os

import pytest
import torch as th

# Two pytest-xdist workers share two cores: one intra-op thread each keeps them from fighting
th.set_num_threads(int(os.environ.get("SB3_SPIKING_TEST_THREADS", "1")))


@pytest.fixture(autouse=True)
def _seed():
    th.manual_seed(0)
