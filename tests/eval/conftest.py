import pytest

from helpers import one_torch_thread

one_thread = pytest.fixture(scope="package", autouse=True)(one_torch_thread)
