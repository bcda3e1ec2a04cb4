import os

import pytest
import torch

torch.set_num_threads(1)  # the test servers decode in-process; 2 threads stall on a shared 2-core CPU

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="session")
def loaded():
    import freedave

    return freedave.load("reference")


@pytest.fixture(scope="module")
def server(loaded):
    """One server with default settings (32 new tokens) for a whole test module."""
    from serve_util import running

    from freedave.serve.settings import Settings

    with running(loaded, Settings(max_tokens=32, max_batch=32)) as url:
        yield url
