import torch

from freedave.decoding.rng import keyed_uniform


def test_pure_function_of_keys():
    pos = torch.arange(50)
    a = keyed_uniform(7, 2, pos, 3)
    b = keyed_uniform(7, 2, pos.flip(0), 3).flip(0)  # order of asking does not matter
    assert torch.equal(a, b)
    assert torch.equal(a[10:20], keyed_uniform(7, 2, pos[10:20], 3))


def test_every_key_changes_the_draw():
    pos = torch.arange(64)
    base = keyed_uniform(1, 0, pos, 0)
    for other in (keyed_uniform(2, 0, pos, 0), keyed_uniform(1, 1, pos, 0), keyed_uniform(1, 0, pos, 1),
                  keyed_uniform(1, 0, pos + 1, 0), keyed_uniform(1 + 2**32, 0, pos, 0)):
        assert (other != base).float().mean() > 0.95


def test_roughly_uniform_in_open_interval():
    u = keyed_uniform(123, 4, torch.arange(200_000), 9)
    assert u.dtype == torch.float64
    assert float(u.min()) > 0 and float(u.max()) < 1
    assert abs(float(u.mean()) - 0.5) < 0.005
    hist = torch.histc(u.float(), bins=10, min=0, max=1) / u.numel()
    assert torch.allclose(hist, torch.full_like(hist, 0.1), atol=0.005)
