"""builtin-face-detection: find faces in an image passed as a task argument.

No files: the JPEG travels as the ``image`` argument (a JSON list of byte values, Teaclave's
shape) and the faces come back as the JSON result, a list of
``{"bbox": {"x", "y", "width", "height"}, "score"}``. With a second path, the boxes are
drawn into a copy of the image there.

The image: argv[1], else ``$TEACLAVE_FACE_IMAGE``, else Teaclave's fixture
``../shared/fixtures/teaclave/functions/face_detection/input.jpg`` beside the repository.
Without any, the example says so and exits 0.

Usage: python examples/builtin_face_detection.py [IMAGE.jpg [OUT.jpg]]
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from common import SETTINGS, check, fixture, login, run, step, task_result

from teaclave.sdk import FunctionArgument

ARGUMENTS = (
    "image",
    "min_face_size",
    "score_thresh",
    "pyramid_scale_factor",
    "slide_window_step_x",
    "slide_window_step_y",
)


def image_path() -> Path | None:
    """The image to use, or None when there is none."""
    if len(sys.argv) > 1 and sys.argv[1]:
        return Path(sys.argv[1])
    if os.environ.get("TEACLAVE_FACE_IMAGE"):
        return Path(os.environ["TEACLAVE_FACE_IMAGE"])
    return fixture("functions/face_detection/input.jpg")


def draw_boxes(source: Path, faces: list[dict[str, dict[str, int]]], target: Path) -> None:
    """Write ``source`` with a rectangle around every face to ``target``."""
    import cv2

    image = cv2.imread(str(source))
    check(image is not None, f"OpenCV cannot read {source}")
    assert image is not None
    for face in faces:
        box = face["bbox"]
        x, y, w, h = box["x"], box["y"], box["width"], box["height"]
        cv2.rectangle(image, (x, y), (x + w, y + h), (0, 255, 0), 2)
    cv2.imwrite(str(target), image)


def main() -> None:
    """Detect faces in one image."""
    path = image_path()
    if path is None:
        print(
            "no image: pass a JPEG path as the first argument (or set TEACLAVE_FACE_IMAGE); "
            "Teaclave's fixture input.jpg was not found beside the repository"
        )
        return
    check(path.is_file(), f"no image file at {path}")
    image = path.read_bytes()
    step(f"read {path} ({len(image)} bytes)")
    with login(SETTINGS.admin, SETTINGS.admin_password) as client:
        function_id = client.register_function(
            "builtin-face-detection",
            "Native Face Detection Function",
            "builtin",
            arguments=[FunctionArgument(key) for key in ARGUMENTS],
        )
        step(f"registered builtin-face-detection as {function_id}")
        task_id = client.create_task(
            function_id,
            {
                "image": list(image),
                "min_face_size": 20,
                "score_thresh": 2.0,
                "pyramid_scale_factor": 0.8,
                "slide_window_step_x": 4,
                "slide_window_step_y": 4,
            },
            "builtin",
        )
        client.invoke_task(task_id)
        step(f"created and invoked task {task_id}")
        faces = json.loads(task_result(client, task_id))
    check(isinstance(faces, list), "the result is a JSON list")
    print(f"result: {len(faces)} faces")
    for face in faces[:5]:
        print(f"  {face['bbox']} score {face['score']:.2f}")
    if len(faces) > 5:
        print(f"  ... and {len(faces) - 5} more")
    if len(sys.argv) > 2:
        draw_boxes(path, faces, Path(sys.argv[2]))
        print(f"drew the boxes into {sys.argv[2]}")


if __name__ == "__main__":
    run(main)
