import pytest
import torch


@pytest.fixture(scope="package", autouse=True)
def one_thread():
    """A shared 2-core machine: one torch thread per process decodes far faster than oversubscribed ones."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
