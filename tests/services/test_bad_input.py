"""Bad input never stops the work: unloadable weights are one line naming the file, unreadable scans are skipped."""

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from services.cli import main
from training.synth.dataset import SynthJob, synthesize
from training.synth.scene import SceneConfig

ROOT = Path(__file__).resolve().parents[2]
PNG_AS_PT = "not a PyTorch checkpoint (the file is a PNG image)"


@pytest.fixture(scope="module")
def bad(tmp_path_factory) -> dict[str, Path]:
    """A PNG renamed to .pt, 4 KiB of random bytes named .onnx, a real scan and a real dataset to run them on."""
    root = tmp_path_factory.mktemp("bad")
    ok, png = cv2.imencode(".png", np.full((48, 64, 3), 90, np.uint8))
    (root / "png.pt").write_bytes(png.tobytes())
    garbage = np.random.default_rng(15).integers(0, 256, 4096, np.uint8).tobytes()
    (root / "garbage.onnx").write_bytes(garbage)
    synthesize(SynthJob(out=root / "data", count=2, seed=3, scene=SceneConfig(width=320, height=240)))
    return {"pt": root / "png.pt", "onnx": root / "garbage.onnx", "data": root / "data",
            "scan": sorted((root / "data" / "images").iterdir())[0], "garbage_head": garbage[:8].hex(" ")}


def _argv(command: str, weights: Path, bad: dict, out: Path) -> list[str]:
    return {
        "detect": ["detect", "--weights", str(weights), str(bad["scan"])],
        "eval": ["eval", "detector", "--weights", str(weights), "--data", str(bad["data"]), "--quiet"],
        # an .onnx only builds TensorRT engines: the file is checked before TensorRT is looked for
        "export": ["export", "--weights", str(weights), "--out", str(out)]
        + (["--format", "tensorrt"] if weights.suffix == ".onnx" else []),
    }[command]


@pytest.mark.parametrize("command", ["detect", "eval", "export"])
@pytest.mark.parametrize("kind", ["pt", "onnx"])
def test_unloadable_weights_are_one_line_naming_the_file(command, kind, bad, tmp_path, capsys):
    weights = bad[kind]
    code = main(_argv(command, weights, bad, tmp_path / "out"))
    err = capsys.readouterr().err
    problem = PNG_AS_PT if kind == "pt" else f"not a readable ONNX model (the file starts with bytes {bad['garbage_head']}; "
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"lanewatch {command}: error: cannot load detector weights {weights}: {problem}")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", ["pt", "onnx"])
def test_serve_detect_refuses_bad_weights_before_starting_a_stack(kind, bad, tmp_path):
    # no LANEWATCH_* endpoints and no `stack up` state in the working folder: a good start would bring an embedded stack
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANEWATCH_")} | {"PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "services.cli", "serve", "detect", "--weights", str(bad[kind])],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith(f"lanewatch serve: error: cannot load detector weights {bad[kind]}: ")
    assert (PNG_AS_PT if kind == "pt" else "not a readable ONNX model") in line
    assert "embedded broker" not in r.stderr


def _scans(folder: Path) -> dict[str, Path]:
    """Two good scans and three bad files in ``folder``: text named .png, a truncated PNG, a raw pair with a bad half."""
    folder.mkdir()
    image = np.random.default_rng(0).integers(0, 256, (120, 160, 3), np.uint8)
    cv2.imwrite(str(folder / "a.png"), image)
    (folder / "b.png").write_text("not an image\n")
    ok, png = cv2.imencode(".png", image)
    (folder / "c.png").write_bytes(png.tobytes()[: len(png) // 2])
    cv2.imwrite(str(folder / "d.jpg"), image)
    cv2.imwrite(str(folder / "e_high.png"), np.full((120, 160), 30000, np.uint16))
    (folder / "e_low.png").write_bytes(b"\x00" * 64)
    (folder / "notes.txt").write_text("not a scan: not picked up from the folder")
    return {p.name: p for p in folder.iterdir()}


@pytest.mark.parametrize("whole_frame", [False, True])
def test_unreadable_scans_are_skipped_and_counted(whole_frame, tmp_path, capsys):
    files = _scans(tmp_path / "scans")
    code = main(["detect", str(tmp_path / "scans"), str(tmp_path / "gone.png"), "--json", str(tmp_path / "d.json")]
                + (["--whole-frame"] if whole_frame else []))
    out, err = capsys.readouterr()
    assert code == 1
    # the readable scans, in the folder's sorted order, are detected as if the others were not there
    assert [line.split(": ")[0] for line in out.splitlines()] == [str(files["a.png"]), str(files["d.jpg"])]
    assert [r["scan"] for r in json.loads((tmp_path / "d.json").read_text())] == [str(files["a.png"]), str(files["d.jpg"])]
    skipped = [line for line in err.splitlines() if line.endswith(": skipped")]
    assert skipped == [
        f"lanewatch detect: {files['b.png']}: not a readable image: skipped",
        f"lanewatch detect: {files['c.png']}: not a readable image: skipped",
        f"lanewatch detect: {files['e_high.png']}: its dual-energy partner e_low.png is not a readable 16-bit "
        "single-channel image of 160x120: skipped",
        f"lanewatch detect: {files['e_low.png']}: not a readable image: skipped",
        f"lanewatch detect: {tmp_path / 'gone.png'}: no such file: skipped",
    ]
    assert err.splitlines()[-1] == "lanewatch detect: 5 of 7 scan files could not be read (see above)"
    assert "Traceback" not in err


def test_an_empty_folder_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no scans here")
    assert main(["detect", str(tmp_path / "empty")]) == 2
    assert capsys.readouterr().err.strip() == (f"lanewatch detect: error: {tmp_path / 'empty'}: a folder with no scan files "
                                               "(.png, .jpg, .jpeg, .tif, .tiff, .bmp)")
