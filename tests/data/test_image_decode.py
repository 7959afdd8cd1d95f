"""Tests for topnet.data.image_decode: every format and mode, EXIF orientation, the fit modes.

References are Pillow's own decoding of the same file, or hand-made images whose result is
known exactly (padding rows, the crop window), never numbers copied from a run.
"""
import numpy as np
import pytest
from PIL import Image, ImageOps

from topnet.data.image_decode import IMAGE_SUFFIXES, decode_image, read_header

LANCZOS = Image.Resampling.LANCZOS


def _random(height, width, seed=0, channels=3):
    shape = (height, width, channels) if channels > 1 else (height, width)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _pillow(path, mode="RGB"):
    """Pillow's own decoding, as (channels, height, width)."""
    with Image.open(path) as image:
        pixels = np.asarray(ImageOps.exif_transpose(image).convert(mode))
    return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)


@pytest.mark.parametrize("suffix, lossless", [(".jpg", False), (".jpeg", False), (".png", True), (".webp", False),
                                              (".bmp", True), (".gif", False), (".tif", True), (".tiff", True)])
def test_every_format_decodes_as_pillow_does(tmp_path, suffix, lossless):
    original = _random(8, 12)
    path = tmp_path / f"image{suffix.upper()}"  # extensions are matched case-insensitively
    Image.fromarray(original).save(path)
    pixels = decode_image(path, (8, 12), "stretch", 3)
    assert pixels.dtype == np.uint8 and pixels.shape == (3, 8, 12)
    np.testing.assert_array_equal(pixels, _pillow(path))
    if lossless:
        np.testing.assert_array_equal(pixels, original.transpose(2, 0, 1))
    assert suffix in IMAGE_SUFFIXES


def test_gif_gives_its_first_frame(tmp_path):
    frames = [Image.new("RGB", (6, 4), colour) for colour in [(255, 0, 0), (0, 0, 255)]]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    pixels = decode_image(tmp_path / "a.gif", (4, 6), "stretch", 3)
    assert pixels[:, 0, 0].tolist() == [255, 0, 0]


def test_grayscale_gives_one_channel_and_is_replicated_for_rgb(tmp_path):
    gray = _random(8, 12, channels=1)
    Image.fromarray(gray).save(tmp_path / "g.png")
    np.testing.assert_array_equal(decode_image(tmp_path / "g.png", (8, 12), "pad", 1), gray[None])
    np.testing.assert_array_equal(decode_image(tmp_path / "g.png", (8, 12), "pad", 3), np.stack([gray] * 3))
    assert read_header(tmp_path / "g.png") == (12, 8, True)


def test_sixteen_bit_grayscale_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257, 1000, 65535], [128, 40000, 65280, 30000]], np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    assert read_header(tmp_path / "deep.png")[2] is True
    expected = np.rint(values.astype(np.float64) * 255 / 65535).astype(np.uint8)  # full range -> 0..255
    np.testing.assert_array_equal(decode_image(tmp_path / "deep.png", (2, 4), "pad", 1)[0], expected)


def test_bilevel_and_palette_images(tmp_path):
    Image.fromarray(np.array([[0, 1], [1, 0]], bool)).convert("1").save(tmp_path / "b.png")
    assert decode_image(tmp_path / "b.png", (2, 2), "pad", 1)[0].tolist() == [[0, 255], [255, 0]]
    palette = Image.fromarray(_random(8, 12)).convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    palette.save(tmp_path / "p.png")
    assert read_header(tmp_path / "p.png")[2] is False  # palette images count as colour
    np.testing.assert_array_equal(decode_image(tmp_path / "p.png", (8, 12), "pad", 3), _pillow(tmp_path / "p.png"))


def test_transparent_pixels_become_white(tmp_path):
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (200, 10, 20, 255)  # opaque: kept
    rgba[0, 1] = (0, 0, 0, 0)  # transparent black: white
    rgba[1, 0] = (255, 0, 0, 128)  # half red over white
    rgba[1, 1] = (0, 0, 255, 0)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    pixels = decode_image(tmp_path / "a.png", (2, 2), "pad", 3)
    assert pixels[:, 0, 0].tolist() == [200, 10, 20] and pixels[:, 0, 1].tolist() == [255, 255, 255]
    half = 255 * (1 - 128 / 255)  # 0 * a + 255 * (1 - a) for green and blue
    np.testing.assert_allclose(pixels[:, 1, 0], [255, half, half], atol=1)
    assert pixels[:, 1, 1].tolist() == [255, 255, 255]
    gray = Image.fromarray(np.array([[[40, 255], [40, 0]]], np.uint8), "LA")
    gray.save(tmp_path / "la.png")
    assert decode_image(tmp_path / "la.png", (1, 2), "pad", 1)[0].tolist() == [[40, 255]]


def test_palette_transparency_becomes_white(tmp_path):
    image = Image.new("P", (2, 1))
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.putpixel((0, 0), 0)
    image.putpixel((1, 0), 1)
    image.save(tmp_path / "t.gif", transparency=0)
    assert decode_image(tmp_path / "t.gif", (1, 2), "pad", 3)[:, 0].T.tolist() == [[255, 255, 255], [255, 0, 0]]


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".tif"])
def test_exif_orientation_is_applied(tmp_path, suffix):
    image = Image.fromarray(_random(8, 12))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 12 wide, 8 high; shown turned 90 degrees clockwise: 8 wide, 12 high
    path = tmp_path / f"turned{suffix}"
    image.save(path, exif=exif)
    pixels = decode_image(path, (12, 8), "stretch", 3)
    with Image.open(path) as raw:
        upright = np.asarray(ImageOps.exif_transpose(raw).convert("RGB")).transpose(2, 0, 1)
    assert upright.shape == (3, 12, 8)
    np.testing.assert_array_equal(pixels, upright)


def _two_colours(tmp_path, height, width, split):
    """Red before ``split`` (along the longer side), blue after."""
    pixels = np.zeros((height, width, 3), np.uint8)
    if width >= height:
        pixels[:, :split], pixels[:, split:] = (255, 0, 0), (0, 0, 255)
    else:
        pixels[:split], pixels[split:] = (255, 0, 0), (0, 0, 255)
    Image.fromarray(pixels).save(tmp_path / "two.png")
    return tmp_path / "two.png"


def test_pad_centres_the_whole_image_on_zeros(tmp_path):
    pixels = decode_image(_two_colours(tmp_path, 4, 8, 4), (8, 8), "pad", 3)  # 4 high, 8 wide: no resize needed
    assert pixels[:, [0, 1, 6, 7]].max() == 0  # two zero rows above and below
    assert (pixels[0, 2:6, :4] == 255).all() and (pixels[2, 2:6, 4:] == 255).all()
    assert pixels[0, 2:6, 4:].max() == 0 and pixels[2, 2:6, :4].max() == 0
    tall = decode_image(_two_colours(tmp_path, 8, 4, 4), (8, 8), "pad", 3)
    assert tall[:, :, [0, 1, 6, 7]].max() == 0 and (tall[0, :4, 2:6] == 255).all() and (tall[2, 4:, 2:6] == 255).all()


def test_crop_keeps_the_centre(tmp_path):
    pixels = np.zeros((4, 8, 3), np.uint8)
    pixels[:, :2], pixels[:, 2:6], pixels[:, 6:] = (255, 0, 0), (0, 255, 0), (0, 0, 255)
    Image.fromarray(pixels).save(tmp_path / "three.png")
    cropped = decode_image(tmp_path / "three.png", (4, 4), "crop", 3)
    assert cropped.shape == (3, 4, 4) and (cropped[1] == 255).all() and cropped[[0, 2]].max() == 0


def test_fits_match_pillow_resizing(tmp_path):
    original = Image.fromarray(_random(8, 12))  # 8 high, 12 wide
    original.save(tmp_path / "r.png")
    half = np.asarray(original.resize((6, 4), LANCZOS)).transpose(2, 0, 1)  # scaled by 1/2: 4 high, 6 wide
    padded = decode_image(tmp_path / "r.png", (6, 6), "pad", 3)
    assert padded[:, [0, 5]].max() == 0
    np.testing.assert_array_equal(padded[:, 1:5], half)
    np.testing.assert_array_equal(decode_image(tmp_path / "r.png", (4, 4), "crop", 3), half[:, :, 1:5])
    stretched = np.asarray(original.resize((5, 7), LANCZOS)).transpose(2, 0, 1)
    np.testing.assert_array_equal(decode_image(tmp_path / "r.png", (7, 5), "stretch", 3), stretched)


def test_large_jpeg_is_drafted_close_to_a_full_decode(tmp_path):
    y, x = np.mgrid[0:480, 0:640]
    smooth = np.stack([x * 255 // 639, y * 255 // 479, (x + y) * 255 // 1118], -1).astype(np.uint8)
    Image.fromarray(smooth).save(tmp_path / "big.jpg", quality=95)
    pixels = decode_image(tmp_path / "big.jpg", (24, 32), "stretch", 3)
    with Image.open(tmp_path / "big.jpg") as full:
        reference = np.asarray(full.convert("RGB").resize((32, 24), LANCZOS)).transpose(2, 0, 1)
    assert np.abs(pixels.astype(int) - reference).max() <= 4


@pytest.mark.parametrize("kwargs, match", [({"image_size": 0}, "image_size"), ({"image_size": (4, 4, 4)}, "image_size"),
                                           ({"image_size": True}, "image_size"), ({"fit": "cover"}, "fit"),
                                           ({"channels": 2}, "channels")])
def test_bad_settings_are_named(tmp_path, kwargs, match):
    Image.new("L", (2, 2)).save(tmp_path / "a.png")
    with pytest.raises(ValueError, match=match):
        decode_image(tmp_path / "a.png", **{"image_size": 2, "fit": "pad", "channels": 1, **kwargs})


def test_truncated_file_raises(tmp_path):
    Image.fromarray(_random(32, 32)).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[:len(data) // 2])
    with pytest.raises(OSError, match="truncated"):
        decode_image(tmp_path / "cut.png", 8, "pad", 3)
