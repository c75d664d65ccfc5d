"""Regions (area of a union, containment) and the baselines: no crop, Canny-edge bounding crop."""

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from pipeline.crop import FALLBACK_CONFIDENCE, CropRegion, canny_crop, contains, kept_area, no_crop, whole_frame


def region(x1, y1, x2, y2):
    return CropRegion(x1=x1, y1=y1, x2=x2, y2=y2, confidence=1.0)


def test_kept_area_counts_overlaps_once():
    assert kept_area([]) == 0
    assert kept_area([region(0, 0, 10, 10)]) == 100
    assert kept_area([region(0, 0, 10, 10), region(5, 5, 15, 15)]) == 175
    assert kept_area([region(0, 0, 10, 10), region(2, 2, 4, 4)]) == 100
    assert kept_area([region(0, 0, 10, 10), region(20, 0, 30, 10)]) == 200


def test_containment_and_validation():
    r = region(10, 10, 50, 40)
    assert contains(r, (10, 10, 50, 40)) and not contains(r, (9.5, 10, 50, 40))
    assert contains(r, (9.5, 10, 50, 40), tolerance=0.5)
    assert whole_frame(64, 48).as_xyxy() == (0, 0, 64, 48) and whole_frame(64, 48).reason == "whole"
    with pytest.raises(ValidationError):
        region(10, 10, 10, 20)
    with pytest.raises(ValidationError):
        CropRegion(x1=0, y1=0, x2=1, y2=1, confidence=1.5)


def test_no_crop_is_the_whole_frame():
    (r,) = no_crop(np.zeros((30, 40, 3), np.uint8))
    assert r.as_xyxy() == (0, 0, 40, 30) and r.confidence == 1.0


def test_canny_boxes_the_edges_and_is_stretched_by_a_scanner_line():
    frame = np.full((200, 300, 3), 255, np.uint8)
    cv2.rectangle(frame, (100, 50), (179, 129), (90, 150, 200), -1)
    (r,) = canny_crop(frame)
    assert abs(r.x1 - 100) <= 2 and abs(r.y1 - 50) <= 2 and abs(r.x2 - 180) <= 2 and abs(r.y2 - 130) <= 2
    frame[170, :] = 0  # a dead detector row across the frame
    (r,) = canny_crop(frame)
    assert r.x1 <= 2 and r.x2 >= 298  # the conventional crop keeps the whole width


def test_canny_on_an_empty_belt_keeps_the_whole_frame():
    (r,) = canny_crop(np.full((60, 80, 3), 255, np.uint8))
    assert r.as_xyxy() == (0, 0, 80, 60) and r.reason == "flat" and r.confidence == FALLBACK_CONFIDENCE
