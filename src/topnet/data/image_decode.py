"""Decode one image file with Pillow into a ``(channels, height, width)`` uint8 array.

The same function decodes training images and, later, the images a run predicts on, so both
see identical pixels. Steps, in order:

1. For a JPEG much larger than the target, ``Image.draft`` lets libjpeg downscale by 1/2, 1/4
   or 1/8 in the DCT (to no less than twice the size needed, as ``Image.thumbnail`` does).
2. The EXIF orientation is applied (``ImageOps.exif_transpose``), so phone photos stand upright.
3. Transparent pixels are composited onto **white**: dark drawings on a transparent background
   (icons, sketches, logos) stay visible, as a browser shows them.
4. 16-bit grayscale (``I;16``, ``I``) is scaled to 0..255 (``v / 257``, rounded); float
   (``F``) images are rounded and clipped to 0..255.
5. Gray or colour: ``L`` for ``channels=1``, ``RGB`` for ``channels=3`` (a gray image is
   replicated to three channels).
6. Resized with Lanczos to ``image_size`` by ``fit``: ``"pad"`` scales the whole image to fit
   and centres it on zeros, ``"crop"`` scales it to cover and centre-crops, ``"stretch"``
   resizes to the target ignoring the aspect ratio (Keras's default).

Example:
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "wide.png"
    >>> Image.new("RGB", (8, 4), (255, 0, 0)).save(path)        # width 8, height 4
    >>> pixels = decode_image(path, (8, 8), "pad", 3)
    >>> pixels.shape, pixels[0, :, 0].tolist()                  # red rows 2..5, zero padding
    ((3, 8, 8), [0, 0, 255, 255, 255, 255, 0, 0])
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from topnet.errors import format_message

__all__ = ["decode_image", "decode_image_and_mode", "read_header", "check_image_size", "check_fit", "IMAGE_SUFFIXES", "FITS"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
FITS = ("pad", "crop", "stretch")
BACKGROUND = (255, 255, 255, 255)  # what transparent pixels become: white
_RESAMPLE = Image.Resampling.LANCZOS
_REDUCING_GAP = 3.0  # resize: an integer box reduction first, then Lanczos over the last 3x
_SIXTEEN_BIT = ("I", "I;16", "I;16L", "I;16B", "I;16N")


def check_image_size(image_size: Any) -> tuple[int, int]:
    """``image_size`` as ``(height, width)``; an int is a square side.

    Raises:
        ValueError: for anything but a positive int or a pair of them.
    """
    sizes = list(image_size) if isinstance(image_size, (list, tuple)) else [image_size]
    if len(sizes) not in (1, 2) or any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1
                                       for n in sizes):
        raise ValueError(format_message("image_size", image_size, "a positive int (a square side) or "
                                        "(height, width)", "e.g. image_size=64 or image_size=(48, 64)"))
    return (int(sizes[0]), int(sizes[-1]))


def check_fit(fit: Any) -> str:
    """``fit`` if it is one of `FITS`, else a ValueError naming the choices."""
    if fit not in FITS:
        raise ValueError(format_message("fit", fit, f"one of {list(FITS)}", "pad keeps the whole image, crop "
                                        "fills the frame, stretch ignores the aspect ratio"))
    return fit


def read_header(path: str | os.PathLike) -> tuple[int, int, bool]:
    """``(width, height, is_gray)`` from the file's header, without decoding the pixels."""
    with Image.open(path) as image:
        width, height = image.size
        return width, height, _is_gray(image.mode)


def _is_gray(mode: str) -> bool:
    try:
        return Image.getmodebase(mode) == "L"  # 1, L, LA, I, I;16, F; palette images count as colour
    except KeyError:
        return False


def _is_size(value: Any) -> bool:
    return type(value) is tuple and len(value) == 2 and type(value[0]) is type(value[1]) is int \
        and value[0] > 0 and value[1] > 0


def _orientation(image: Image.Image) -> int:
    """The EXIF (or XMP) orientation, 1 when upright; the EXIF is parsed only when there is one."""
    if image.format != "TIFF" and not {"exif", "xmp", "XML:com.adobe.xmp"} & image.info.keys():
        return 1
    return image.getexif().get(0x0112, 1)


def _resized_size(size: tuple[int, int], target: tuple[int, int], fit: str) -> tuple[int, int]:
    """``(width, height)`` to resize to before padding or cropping to ``target`` (h, w)."""
    (width, height), (target_h, target_w) = size, target
    if fit == "stretch":
        return target_w, target_h
    by_width = target_w / width <= target_h / height  # the width is the tighter side
    if (fit == "pad") == by_width:
        return target_w, max(1, round(height * target_w / width))
    return max(1, round(width * target_h / height)), target_h


def _draft(image: Image.Image, target: tuple[int, int], fit: str) -> None:
    """Let libjpeg decode a large JPEG at 1/2, 1/4 or 1/8 scale, keeping 2x the size needed."""
    if image.format != "JPEG":
        return
    size = image.size
    if _orientation(image) in (5, 6, 7, 8):  # rotated by 90 degrees: fit the turned frame
        target = (target[1], target[0])
    width, height = _resized_size(size, target, fit)
    image.draft(None, (2 * width, 2 * height))


def _to_channels(image: Image.Image, channels: int) -> Image.Image:
    """An ``L`` (channels=1) or ``RGB`` (channels=3) image; alpha composited onto white."""
    if image.mode in _SIXTEEN_BIT:
        values = np.asarray(image).astype(np.int64)
        image = Image.fromarray(((np.clip(values, 0, 65535) * 255 + 32767) // 65535).astype(np.uint8))
    elif image.mode == "F":
        image = Image.fromarray(np.clip(np.rint(np.asarray(image)), 0, 255).astype(np.uint8))
    if "A" in image.getbands() or "a" in image.getbands() or "transparency" in image.info:
        background = Image.new("RGBA", image.size, BACKGROUND)
        image = Image.alpha_composite(background, image.convert("RGBA"))
    mode = "L" if channels == 1 else "RGB"
    return image if image.mode == mode else image.convert(mode)


def _fit(image: Image.Image, target: tuple[int, int], fit: str) -> np.ndarray:
    """Resize by ``fit`` and return ``(height, width[, 3])`` uint8."""
    target_h, target_w = target
    width, height = _resized_size(image.size, target, fit)
    if image.size != (width, height):
        image = image.resize((width, height), _RESAMPLE, reducing_gap=_REDUCING_GAP)
    pixels = np.asarray(image)
    if fit == "crop":
        top, left = (height - target_h) // 2, (width - target_w) // 2
        return pixels[top:top + target_h, left:left + target_w]
    if fit == "pad" and (height, width) != target:
        canvas = np.zeros((target_h, target_w) + pixels.shape[2:], np.uint8)
        top, left = (target_h - height) // 2, (target_w - width) // 2
        canvas[top:top + height, left:left + width] = pixels
        return canvas
    return pixels


def decode_image(path: str | os.PathLike, image_size: int | tuple[int, int], fit: str = "pad",
                 channels: int = 3) -> np.ndarray:
    """Decode and resize one image file (JPEG, PNG, WebP, BMP, GIF's first frame, TIFF).

    Args:
        path: the image file.
        image_size: ``(height, width)`` of the result, or an int for a square.
        fit: ``"pad"``, ``"crop"`` or ``"stretch"`` (see the module docstring).
        channels: 1 (grayscale) or 3 (RGB).

    Returns:
        ``(channels, height, width)`` uint8.

    Raises:
        OSError: Pillow's error for a file that is not an image or is truncated (the pixels are
            decoded fully, so a truncated file always raises).
        ValueError: for a bad ``image_size``, ``fit`` or ``channels``.
    """
    pixels, _ = decode_image_and_mode(path, image_size, fit, channels)
    return np.ascontiguousarray(pixels)


def decode_image_and_mode(path: str | os.PathLike, image_size: int | tuple[int, int], fit: str = "pad",
                          channels: int = 3) -> tuple[np.ndarray, bool]:
    """`decode_image`'s pixels (possibly a transposed view) and whether the file is grayscale
    (by its mode, as `read_header` tells), from one ``Image.open``: the cache learns the
    images' channels while decoding them, with no second pass over the headers."""
    target = image_size if _is_size(image_size) else check_image_size(image_size)  # the fast path per file
    fit = check_fit(fit)
    if channels not in (1, 3):
        raise ValueError(format_message("channels", channels, "1 (grayscale) or 3 (RGB)"))
    with Image.open(path) as image:
        gray = _is_gray(image.mode)
        _draft(image, target, fit)
        image.load()  # decode everything now: a truncated file raises here
        if _orientation(image) != 1:
            image = ImageOps.exif_transpose(image)
        image = _to_channels(image, channels)
        pixels = _fit(image, target, fit)  # (height, width) or (height, width, 3)
    return (pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)), gray
