"""Argument types shared by the subcommands: they explain what is wrong."""

from __future__ import annotations

import argparse
from collections.abc import Callable

__all__ = ["fraction", "frame_size", "non_negative_floats", "positive_float", "positive_int", "positive_ints", "ratio"]


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def ratio(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def frame_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT like 1200x950, got {text!r}") from None
    if not (64 <= w <= 8192 and 64 <= h <= 8192):
        raise argparse.ArgumentTypeError(f"frame size {w}x{h} is outside 64..8192")
    return w, h


def positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def fraction(text: str) -> float:
    """A share in (0, 1]: a load, a part of something that cannot be none of it."""
    value = float(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def _comma_list(text: str, convert: Callable[[str], float], ok: Callable[[float], bool], what: str, example: str) -> tuple:
    """Comma-separated values, duplicates dropped, in order; each converted and checked."""
    try:
        values = tuple(dict.fromkeys(convert(v) for v in text.split(",") if v.strip()))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated {what} like {example}, got {text!r}") from None
    if not values or not all(ok(v) for v in values):
        raise argparse.ArgumentTypeError(f"expected {what} like {example}, got {text!r}")
    return values


def positive_ints(text: str) -> tuple[int, ...]:
    """'1,2,4,8' -> (1, 2, 4, 8)."""
    return _comma_list(text, int, lambda v: v >= 1, "positive integers", "1,2,4,8")


def non_negative_floats(text: str) -> tuple[float, ...]:
    """'0,5,10' -> (0.0, 5.0, 10.0)."""
    return _comma_list(text, float, lambda v: v >= 0, "non-negative numbers", "0,5,10")
