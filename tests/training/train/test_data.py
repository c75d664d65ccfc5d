"""Letterboxing, targets, the image cache and batching of the training dataset."""

import cv2
import numpy as np
import pytest
import torch

from training.augment import DUAL_BACKGROUND, AugmentConfig
from training.data import DetectionDataset, collate, letterbox, placement
from training.datasets.records import Box, Sample


def _sample(tmp_path, name="a", w=200, h=100, boxes=((50, 20, 110, 60, "knife"),), raw=False):
    img = np.full((h, w, 3), 255, np.uint8)
    for x1, y1, x2, y2, _ in boxes:
        img[y1:y2, x1:x2] = (200, 120, 30)
    path = tmp_path / f"{name}.png"
    cv2.imwrite(str(path), img[..., ::-1])
    fields = {}
    if raw:
        for energy, value in (("high", 30000), ("low", 20000)):
            plane = np.full((h, w), 65535, np.uint16)
            for x1, y1, x2, y2, _ in boxes:
                plane[y1:y2, x1:x2] = value
            fields[energy] = tmp_path / f"{name}_{energy}.png"
            cv2.imwrite(str(fields[energy]), plane)
    return Sample(image_id=name, width=w, height=h, image=path, **fields,
                  boxes=[Box(x1=x1, y1=y1, x2=x2, y2=y2, label=lab) for x1, y1, x2, y2, lab in boxes])


def test_letterbox_places_and_pads():
    img = np.zeros((100, 200, 3), np.uint8)
    canvas, lb = letterbox(img, 64)
    assert lb == placement(200, 100, 64) == (0.32, 0.32, 0, 16)
    assert (canvas[:16] == 255).all() and (canvas[48:] == 255).all() and (canvas[16:48] == 0).all()
    np.testing.assert_allclose(lb.to_frame(np.array([[0, 16, 64, 48]])), [[0, 0, 200, 100]])


def test_targets_map_exactly_and_bound_the_pixels(tmp_path):
    ds = DetectionDataset([_sample(tmp_path)], img_size=64, cache=False)
    image, t = ds[0]
    assert image.dtype == torch.uint8 and image.shape == (3, 64, 64)
    # box (50, 20, 110, 60) * 0.32 + (0, 16) = (16, 22.4, 35.2, 35.2); class knife = 1 in SIXray-D
    np.testing.assert_allclose(t.numpy(), [[1, 25.6, 28.8, 19.2, 12.8]], rtol=1e-6)
    ys, xs = np.nonzero(image.numpy().min(axis=0) < 200)
    assert abs(xs.min() - 16) <= 1 and abs(xs.max() + 1 - 35.2) <= 1
    assert abs(ys.min() - 22.4) <= 1 and abs(ys.max() + 1 - 35.2) <= 1


def test_other_labels_are_dropped_and_classes_configurable(tmp_path):
    s = _sample(tmp_path, boxes=((50, 20, 110, 60, "knife"), (10, 10, 30, 30, "Cans")))
    assert DetectionDataset([s], img_size=64)[0][1][:, 0].tolist() == [1]
    assert DetectionDataset([s], img_size=64, classes=("Cans", "knife"))[0][1][:, 0].tolist() == [1, 0]


def test_dual_mode_pads_with_air(tmp_path):
    ds = DetectionDataset([_sample(tmp_path, raw=True)], img_size=64, mode="dual")
    image = ds[0][0].numpy()
    np.testing.assert_array_equal(image[:, 0, 0], DUAL_BACKGROUND)  # padding
    np.testing.assert_array_equal(image[:, 20, 0], DUAL_BACKGROUND)  # empty belt inside the frame
    assert image[0, 28, 25] < 128  # the object


def test_cache_serves_epochs_after_the_first_without_files(tmp_path):
    samples = [_sample(tmp_path, name=n) for n in "ab"]
    ds = DetectionDataset(samples, img_size=64, augment=AugmentConfig())
    assert ds.cache_enabled
    ds.preload()
    for s in samples:
        s.image.unlink()
    ds.set_epoch(3)
    first = ds[1]
    assert torch.equal(first[0], ds[1][0]) and torch.equal(first[1], ds[1][1])  # a pure function of (seed, epoch, i)
    ds.set_epoch(4)
    assert not torch.equal(first[0], ds[1][0])
    with pytest.raises(ValueError, match="image"):
        DetectionDataset(samples, img_size=64, cache=False)[0]


def test_collate_stacks_images_and_indexes_targets(tmp_path):
    ds = DetectionDataset([_sample(tmp_path, name="a"), _sample(tmp_path, name="b", boxes=())], img_size=64)
    images, targets = collate([ds[0], ds[1], ds[0]])
    assert images.shape == (3, 3, 64, 64) and images.dtype == torch.float32 and float(images.max()) == 1.0
    assert images.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(images[2], ds[0][0].float() / 255)
    assert targets.shape == (2, 6) and targets[:, 0].tolist() == [0.0, 2.0]


def test_zoom_crops_enlarge_objects_and_keep_their_pixels(tmp_path):
    from dataclasses import replace

    none = replace(AugmentConfig(), flip_lr=0, flip_ud=0, rot90=0, scale=(1.0, 1.0), translate=0, gain=(1.0, 1.0))
    zoomed = replace(none, zoom=(2.0, 2.0), zoom_focus=1.0)
    plain = DetectionDataset([_sample(tmp_path)], img_size=64, augment=none)
    ds = DetectionDataset([_sample(tmp_path)], img_size=64, augment=zoomed)
    assert ds.canvas_size == 128 and plain.canvas_size == 64
    whole = 0
    for epoch in range(10):
        ds.set_epoch(epoch)
        image, t = ds[0]
        assert image.shape == (3, 64, 64)
        # zoom 2: the box is twice its full-frame size at 64 (19.2 x 12.8), or cut by the window's edge
        w, h = t[0, 3:].tolist()
        assert w <= 38.4 + 1e-4 and h <= 25.6 + 1e-4
        whole += bool(np.allclose([w, h], [38.4, 25.6], rtol=1e-5))
        cx, cy = int(t[0, 1]), int(t[0, 2])
        assert tuple(image[:, cy, cx].tolist()) == (200, 120, 30)
    assert whole >= 1
    # validation (no augmentation) still sees the whole frame at img_size
    assert DetectionDataset([_sample(tmp_path)], img_size=64).canvas_size == 64
