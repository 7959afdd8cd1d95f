"""Tests for topnet.data.transforms: Standardizer, standardize and batched augmentation.

Each augmentation is checked against a per-sample reference written as a plain loop here, so a
vectorised implementation that drifts from the reference fails.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from topnet.data import (Compose, Cutout, Dataset, PadAndCrop, RandomFlip, RandomTranslate, Splits, Standardizer,
                         standardize, translate)
from topnet.errors import DataError


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ---- Standardizer ------------------------------------------------------------------------------

def test_per_channel_statistics_for_images():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (20, 3, 4, 5)).astype(np.uint8)
    scaler = Standardizer().fit(x)
    np.testing.assert_allclose(scaler.mean_, x.astype(float).mean(axis=(0, 2, 3)))
    np.testing.assert_allclose(scaler.std_, x.astype(float).std(axis=(0, 2, 3)))
    out = scaler.transform(x)
    assert out.dtype == np.float32 and out.shape == x.shape
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(0, 2, 3)), 1, atol=1e-5)


def test_per_feature_nan_aware_and_constant_features():
    x = np.array([[1.0, 5.0, np.nan], [3.0, 5.0, np.nan], [np.nan, 5.0, np.nan]])
    scaler = Standardizer().fit(x)
    assert scaler.mean_.tolist() == [2.0, 5.0, 0.0] and scaler.std_.tolist() == [1.0, 1.0, 1.0]
    out = scaler.transform(x)
    assert out.tolist() == [[-1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]


def test_tensor_in_tensor_out_and_numpy_in_numpy_out():
    x = torch.arange(12.0).reshape(4, 3)
    scaler = Standardizer().fit(x)
    out = scaler.transform(x)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.device == x.device
    np.testing.assert_allclose(out.numpy(), scaler.transform(x.numpy()), rtol=1e-6)
    assert isinstance(scaler.fit_transform(x.numpy()), np.ndarray)


def test_state_dict_round_trip_and_errors():
    scaler = Standardizer().fit(np.random.default_rng(1).normal(size=(10, 2, 3)))
    state = scaler.state_dict()
    assert set(state) == {"mean", "std"} and all(isinstance(v, torch.Tensor) for v in state.values())
    restored = Standardizer().load_state_dict(state)
    x = np.ones((2, 2, 3))
    np.testing.assert_array_equal(restored.transform(x), scaler.transform(x))
    with pytest.raises(ValueError, match="not fitted"):
        Standardizer().transform(x)
    with pytest.raises(DataError, match="expected 2 channels"):
        scaler.transform(np.ones((2, 5, 3)))
    with pytest.raises(DataError, match="missing keys"):
        Standardizer().load_state_dict({"mean": state["mean"]})


def test_with_mean_and_with_std():
    x = np.array([[2.0], [4.0]])
    assert Standardizer(with_mean=False).fit(x).transform(x).ravel().tolist() == [2.0, 4.0]
    assert Standardizer(with_std=False).fit(x).transform(x).ravel().tolist() == [-1.0, 1.0]
    assert repr(Standardizer()) == "Standardizer(with_mean=True, with_std=True)"


def test_standardize_fits_on_train_only_and_leaves_codes_alone():
    train = Dataset(x={"numeric": np.array([[0.0], [2.0]]), "categorical": np.array([[1], [2]])}, y=np.array([0, 1]))
    test = Dataset(x={"numeric": np.array([[4.0]]), "categorical": np.array([[3]])}, y=np.array([1]))
    new, scalers = standardize(Splits(train=train, test=test))
    assert list(scalers) == ["numeric"]
    assert new.train.x["numeric"].ravel().tolist() == [-1.0, 1.0]
    assert new.test.x["numeric"].ravel().tolist() == [3.0]  # (4 - 1) / 1: train statistics
    assert new.test.x["categorical"] is test.x["categorical"]
    with pytest.raises(DataError, match="expected float or uint8 inputs"):
        standardize(Splits(train=train), keys=["categorical"])


def test_standardize_single_uint8_input():
    train = Dataset(x=np.full((2, 1, 2, 2), 10, np.uint8), y=np.array([0, 1]))
    new, scalers = standardize(Splits(train=train))
    assert list(scalers) == ["x"] and new.train.x.dtype == np.float32 and np.all(new.train.x == 0)


# ---- augmentation: references -------------------------------------------------------------------

def _reference_translate(x, dy, dx, mode, pad):
    """Per sample: pad with F.pad, crop the window at (pad + dy, pad + dx)."""
    out = []
    for n in range(len(x)):
        if mode == "reflect":
            padded = F.pad(x[n:n + 1].double(), (pad,) * 4, mode="reflect")
        else:
            padded = F.pad(x[n:n + 1].double(), (pad,) * 4)
        top, left = pad + int(dy[n]), pad + int(dx[n])
        out.append(padded[0, :, top:top + x.shape[2], left:left + x.shape[3]])
    return torch.stack(out).to(x.dtype)


@pytest.mark.parametrize("mode", ["zeros", "reflect"])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_translate_matches_pad_then_crop_per_sample(mode, dtype):
    x = torch.randint(0, 200, (16, 3, 7, 9), generator=_gen(1)).to(dtype)
    dy = torch.randint(-3, 4, (16,), generator=_gen(2))
    dx = torch.randint(-3, 4, (16,), generator=_gen(3))
    torch.testing.assert_close(translate(x, dy, dx, mode), _reference_translate(x, dy, dx, mode, 3))


def _windows(x, pad, mode):
    """Every (2 pad + 1)^2 window of the padded batch."""
    padded = F.pad(x, (pad,) * 4, mode="reflect" if mode == "reflect" else "constant")
    height, width = x.shape[2:]
    return [padded[:, :, a:a + height, b:b + width] for a in range(2 * pad + 1) for b in range(2 * pad + 1)]


@pytest.mark.parametrize("transform", [PadAndCrop(2), RandomTranslate(2), RandomTranslate(1, mode="reflect")])
def test_crops_are_exact_shifted_windows(transform):
    x = torch.rand(32, 2, 6, 6, generator=_gen(4))
    out = transform(x, _gen(5))
    windows = _windows(x, transform.max_shift, transform.mode)
    for n in range(len(x)):  # every output is one of the candidate windows of its own input
        assert any(torch.equal(out[n], w[n]) for w in windows)
    assert len({tuple(out[n].flatten()[:4].tolist()) for n in range(32)}) > 1


def test_flips_are_exact_flips():
    x = torch.rand(64, 3, 4, 5, generator=_gen(6))
    out = RandomFlip()(x, _gen(7))
    flipped = [torch.equal(out[n], x[n].flip(-1)) for n in range(64)]
    kept = [torch.equal(out[n], x[n]) for n in range(64)]
    assert all(f or k for f, k in zip(flipped, kept)) and any(flipped) and any(kept)
    assert torch.equal(RandomFlip(p=1.0)(x, _gen()), x.flip(-1))
    assert torch.equal(RandomFlip(p=0.0)(x, _gen()), x)
    assert torch.equal(RandomFlip(horizontal=False, vertical=True, p=1.0)(x, _gen()), x.flip(-2))


@pytest.mark.parametrize("size", [1, 3, 5])
def test_cutout_zeroes_exactly_one_square(size):
    x = torch.ones(40, 2, 5, 7)
    out = Cutout(size)(x, _gen(8))
    for n in range(40):
        zero = out[n, 0] == 0
        rows, cols = zero.any(dim=1).nonzero().ravel(), zero.any(dim=0).nonzero().ravel()
        assert zero.sum() == size * size and len(rows) == size and len(cols) == size
        assert rows.max() - rows.min() == size - 1 and cols.max() - cols.min() == size - 1
        assert torch.equal(out[n, 0], out[n, 1])  # the same square in every channel
    assert torch.equal(Cutout(size, p=0.0)(x, _gen()), x)
    partly = Cutout(size, p=0.5)(x, _gen(9))
    touched = (partly == 0).flatten(1).any(dim=1)
    assert touched.any() and not touched.all()


@pytest.mark.parametrize("transform", [RandomFlip(vertical=True), PadAndCrop(2), RandomTranslate(3), Cutout(3, p=0.7),
                                       Compose([RandomFlip(), PadAndCrop(1), Cutout(2)])])
def test_same_seed_same_output_and_shape(transform):
    x = torch.rand(16, 3, 8, 8, generator=_gen(10))
    first, again, other = transform(x, _gen(1)), transform(x, _gen(1)), transform(x, _gen(2))
    assert first.shape == x.shape and first.dtype == x.dtype
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_compose_applies_in_order_and_reprs():
    x = torch.rand(4, 1, 3, 3, generator=_gen(11))
    assert torch.equal(Compose([RandomFlip(p=1.0), RandomFlip(p=1.0)])(x, _gen()), x)
    assert repr(Compose([RandomFlip(), PadAndCrop(4), Cutout(8)])) == (
        "Compose([RandomFlip(horizontal=True, vertical=False, p=0.5), PadAndCrop(4, mode='reflect'), "
        "Cutout(8, p=1.0)])")
    assert repr(RandomTranslate(2)) == "RandomTranslate(2, mode='zeros')" and PadAndCrop(3).padding == 3


def test_bad_arguments():
    with pytest.raises(ValueError):
        RandomFlip(p=1.5)
    with pytest.raises(ValueError):
        Cutout(0)
    with pytest.raises(ValueError):
        PadAndCrop(2, mode="wrap")
    with pytest.raises(TypeError):
        Compose([1])
    with pytest.raises(DataError, match="batch, channels, height, width"):
        RandomFlip()(torch.zeros(3, 4, 4), _gen())
    with pytest.raises(DataError, match="too small"):
        PadAndCrop(4)(torch.zeros(1, 1, 4, 4), _gen())
    with pytest.raises(DataError, match="at least"):
        Cutout(5)(torch.zeros(1, 1, 4, 4), _gen())


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_runs_on_the_tensors_device_with_a_generator_anywhere(device):
    x = torch.rand(8, 3, 8, 8, generator=_gen(12)).to(device)
    augment = Compose([RandomFlip(vertical=True), PadAndCrop(2), RandomTranslate(1), Cutout(3, p=0.5)])
    on_cpu = augment(x, _gen(13))
    assert on_cpu.device == x.device
    torch.testing.assert_close(on_cpu.cpu(), augment(x.cpu(), _gen(13)))  # same draws, same result
    generator = torch.Generator(device=device).manual_seed(13)
    assert augment(x, generator).device == x.device
    scaler = Standardizer().fit(x)
    assert scaler.transform(x).device == x.device
