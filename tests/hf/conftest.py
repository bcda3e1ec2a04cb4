import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def ckpts(tmp_path_factory):
    """One tiny checkpoint of each kind, built once per session."""
    from hf_tiny import save_llada, save_plain, save_qwen_family

    root = tmp_path_factory.mktemp("hf")
    return {
        "llama": save_plain(root / "llama", "llama"),
        "qwen2": save_plain(root / "qwen2", "qwen2"),
        "qwen3": save_plain(root / "qwen3", "qwen3"),
        "llada": save_llada(root / "llada")[0],
        "dream": save_qwen_family(root / "dream", "dream")[0],
        "sdar": save_qwen_family(root / "sdar", "sdar")[0],
    }


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread (and the CPUs here are shared); restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
