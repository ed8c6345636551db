"""``builtin-face-detection``: find faces in an image passed as an argument.

Teaclave runs the SeetaFace funnel cascade (Rust ``rustface``); this runs OpenCV's frontal-face
Haar cascade (``haarcascade_frontalface_default.xml``, shipped with ``opencv-python-headless``)
on the grayscale image. Arguments (Teaclave's names and types; all but ``image`` optional):

* ``image``: the encoded image (JPEG, PNG, ... anything OpenCV decodes) as a JSON array of byte
  values, Teaclave's shape. Extension: a base64 string is accepted too.
* ``min_face_size`` (u32 >= 20, default 20) -> the first pyramid level, as in rustface: the
  image is resized by ``24 / min_face_size`` so that such a face fills the 24x24 Haar window
  (OpenCV's ``minSize`` alone would start every pyramid at 24 px), and boxes are mapped back.
* ``max_face_size`` (u32) -> ``maxSize`` (in the resized image); as in rustface the size used
  is the smallest of it, the image width and the image height (below the minimum: no faces).
* ``pyramid_scale_factor`` (float in [0.01, 0.99], default 0.8): rustface shrinks the image by
  this factor per pyramid level; OpenCV's ``scaleFactor`` is its inverse, ``1 / p``.
* ``score_thresh`` (float > 0, default 2.0): faces whose score is below it are dropped. The
  score is the Haar cascade's final-stage sum for the face (``detectMultiScale3``'s
  ``levelWeights``), not a SeetaFace score; real faces typically score 3 to 12. Neighbouring
  detections are grouped with OpenCV's default ``minNeighbors`` of 3.
* ``window_size`` (u32 >= 20) and ``slide_window_step_x`` / ``slide_window_step_y`` (u32 > 0):
  validated like rustface's, then unused — the Haar model has a fixed 24x24 window and OpenCV
  chooses its own stride.

Images above ``MAX_PIXELS`` (64 megapixels) are refused. The summary is a JSON list of
``{"bbox": {"x", "y", "width", "height"}, "score"}`` (rustface's ``Face`` serialisation),
highest score first.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any

import numpy as np

from teaclave.functions import FunctionError, register
from teaclave.functions._typed_args import f32_argument, float_argument, uint_argument

if TYPE_CHECKING:
    from teaclave.worker.runtime import Runtime

NAME = "builtin-face-detection"
CASCADE = "haarcascade_frontalface_default.xml"
MIN_WINDOW = 20
MIN_FACE = 20
DEFAULT_MIN_FACE = 20
DEFAULT_PYRAMID_SCALE = 0.8
DEFAULT_SCORE_THRESH = 2.0
MIN_NEIGHBORS = 3
#: The side of the Haar model's detection window, in pixels.
HAAR_WINDOW = 24
PYRAMID_RANGE = (0.01, 0.99)
#: Largest decoded image accepted (a small JPEG can decode to a huge bitmap).
MAX_PIXELS = 64_000_000


def _deserialize_error(key: str, what: str) -> FunctionError:
    return FunctionError(f"Cannot deserialize arguments: {key}: {what}")


def _optional_u32(arguments: dict[str, Any], key: str) -> int | None:
    """``arguments[key]`` as a u32, or ``None`` when absent or null (Rust ``Option<u32>``)."""
    return None if arguments.get(key) is None else uint_argument(arguments, key, 32)


def _optional_f32(arguments: dict[str, Any], key: str) -> np.float32 | None:
    """``arguments[key]`` as an f32, or ``None`` when absent or null (Rust ``Option<f32>``)."""
    return None if arguments.get(key) is None else f32_argument(arguments, key)


def _optional_f64(arguments: dict[str, Any], key: str) -> float | None:
    """``arguments[key]`` as an f64, or ``None`` when absent or null (Rust ``Option<f64>``)."""
    return None if arguments.get(key) is None else float_argument(arguments, key)


def _image_bytes(arguments: dict[str, Any]) -> bytes:
    """The ``image`` argument: a list of byte values, or (extension) a base64 string."""
    value = arguments.get("image")
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise _deserialize_error("image", "not a byte array nor valid base64") from None
    if not isinstance(value, list):
        what = "missing" if value is None else f"expected an array of bytes, got {value!r:.40}"
        raise _deserialize_error("image", what)
    if not set(map(type, value)) <= {int}:
        raise _deserialize_error("image", "expected an array of integers 0..255")
    try:
        return bytes(value)
    except ValueError:
        raise _deserialize_error("image", "byte values must be in 0..255") from None


def _check(condition: bool, key: str, rule: str, value: object) -> None:
    if not condition:
        raise FunctionError(f"Invalid argument {key}: {value!r} (must be {rule})")


def _settings(arguments: dict[str, Any]) -> tuple[int, int | None, float, float]:
    """Validate the tuning arguments; return (min face, max face, scale factor, threshold)."""
    window = _optional_u32(arguments, "window_size")
    if window is not None:
        _check(window >= MIN_WINDOW, "window_size", f">= {MIN_WINDOW}", window)
    for key in ("slide_window_step_x", "slide_window_step_y"):
        step = _optional_u32(arguments, key)
        if step is not None:
            _check(step > 0, key, "> 0", step)
    min_face = _optional_u32(arguments, "min_face_size")
    if min_face is None:
        min_face = DEFAULT_MIN_FACE
    _check(min_face >= MIN_FACE, "min_face_size", f">= {MIN_FACE}", min_face)
    max_face = _optional_u32(arguments, "max_face_size")
    pyramid = _optional_f32(arguments, "pyramid_scale_factor")
    if pyramid is None:
        pyramid = np.float32(DEFAULT_PYRAMID_SCALE)
    low, high = PYRAMID_RANGE  # compared in single precision, as rustface does
    in_range = bool(np.float32(low) <= pyramid <= np.float32(high))
    _check(in_range, "pyramid_scale_factor", f"in [{low}, {high}]", float(pyramid))
    thresh = _optional_f64(arguments, "score_thresh")
    if thresh is None:
        thresh = DEFAULT_SCORE_THRESH
    _check(thresh > 0, "score_thresh", "> 0", thresh)
    return min_face, max_face, 1.0 / float(pyramid), thresh


@register(NAME)
def face_detection(arguments: dict[str, Any], runtime: Runtime) -> str:
    """Detect faces; return them as Teaclave's JSON list of bounding boxes with scores."""
    settings = _settings(arguments)
    encoded = _image_bytes(arguments)
    try:
        import cv2
        from cv2.data import haarcascades
    except ImportError as error:  # pragma: no cover - opencv is a declared dependency
        raise FunctionError(f"face detection is unavailable: {error}") from None
    image = (
        cv2.imdecode(np.frombuffer(encoded, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
        if encoded
        else None
    )
    if image is None:
        raise FunctionError("image: cannot decode the image (unsupported or corrupt data)")
    min_face, max_face, scale_factor, thresh = settings
    height, width = image.shape[:2]
    if width * height > MAX_PIXELS:
        raise FunctionError(f"image: {width}x{height} is larger than {MAX_PIXELS} pixels")
    largest = min(width, height) if max_face is None else min(max_face, width, height)
    if largest < min_face:
        return "[]"
    classifier = cv2.CascadeClassifier(haarcascades + CASCADE)
    if classifier.empty():  # pragma: no cover - the file ships with opencv
        raise FunctionError(f"face detection is unavailable: cannot load {CASCADE}")
    # Like rustface, start the pyramid at the minimum face size: scale the image so that a
    # min_face_size face fills the cascade's window, then scan at sizes window * factor**k.
    ratio = HAAR_WINDOW / min_face
    if ratio != 1:
        interpolation = cv2.INTER_AREA if ratio < 1 else cv2.INTER_LINEAR
        size = (max(1, round(width * ratio)), max(1, round(height * ratio)))
        image = cv2.resize(image, size, interpolation=interpolation)
    window = max(HAAR_WINDOW, round(largest * ratio))
    boxes, _levels, weights = classifier.detectMultiScale3(
        image,
        scaleFactor=scale_factor,
        minNeighbors=MIN_NEIGHBORS,
        minSize=(HAAR_WINDOW, HAAR_WINDOW),
        maxSize=(window, window),
        outputRejectLevels=True,
    )
    found: list[tuple[float, dict[str, int]]] = []
    for box, weight in zip(np.asarray(boxes).reshape(-1, 4), np.ravel(weights), strict=True):
        score = float(weight)
        if score < thresh:
            continue
        x, y = min(round(box[0] / ratio), width - 1), min(round(box[1] / ratio), height - 1)
        w, h = round(box[2] / ratio), round(box[3] / ratio)
        bbox = {"x": x, "y": y, "width": min(w, width - x), "height": min(h, height - y)}
        found.append((score, bbox))
    found.sort(key=lambda item: -item[0])
    faces = [{"bbox": bbox, "score": score} for score, bbox in found]
    return json.dumps(faces, separators=(",", ":"))
