"""Measuring croppers on labelled frames: retention and area, detection on regions, the benchmark, the TDC ablation, the PNG."""
