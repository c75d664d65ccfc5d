"""The lanewatch CLI: subcommands, help, errors and the JSON summary line."""

import json
import subprocess
import sys

import cv2
import pytest

from services.cli import main


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "synth" in out and "sheet" in out


@pytest.mark.parametrize("cmd", ["synth", "sheet"])
def test_subcommand_help_teaches(cmd, capsys):
    with pytest.raises(SystemExit):
        main([cmd, "--help"])
    assert "example:" in capsys.readouterr().out


def test_synth_prints_one_json_line_and_sheet(tmp_path, capsys):
    rc = main(["synth", "--out", str(tmp_path / "d"), "--count", "3", "--seed", "2", "--size", "320x240",
               "--quiet", "--sheet", str(tmp_path / "s.png"), "--sheet-count", "3"])
    assert rc == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    summary = json.loads(line)
    assert summary["frames"] == 3 and {"objects", "frames_per_s"} <= summary.keys()
    sheet = cv2.imread(str(tmp_path / "s.png"))
    assert sheet is not None and sheet.shape[1] > 4 * 384
    assert main(["sheet", str(tmp_path / "d"), "--out", str(tmp_path / "t.png"), "--count", "2", "--columns", "2", "--tile", "100"]) == 0
    assert cv2.imread(str(tmp_path / "t.png")).shape == (108, 212, 3)


@pytest.mark.parametrize("args,needle", [
    (["synth", "--out", "x", "--count", "0"], "positive"),
    (["synth", "--out", "x", "--count", "2", "--negatives-ratio", "2"], "between 0 and 1"),
    (["synth", "--out", "x", "--count", "2", "--size", "big"], "WIDTHxHEIGHT"),
])
def test_bad_arguments_are_explained(args, needle, capsys):
    with pytest.raises(SystemExit) as e:
        main(args)
    assert e.value.code == 2
    assert needle in capsys.readouterr().err


def test_sheet_on_missing_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["sheet", str(tmp_path / "nope"), "--out", str(tmp_path / "x.png")]) == 2
    assert "nope" in capsys.readouterr().err


def test_console_script_runs():
    r = subprocess.run([sys.executable, "-m", "services.cli", "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "lanewatch" in r.stdout


def test_rescreen_copies_a_dataset_onto_another_screen(tmp_path, capsys):
    import numpy as np

    from training.datasets.loader import load_dataset

    common = ["--count", "3", "--seed", "3", "--size", "320x240", "--quiet"]
    assert main(["synth", "--out", str(tmp_path / "vivid"), "--scanner", "vivid", *common]) == 0
    assert main(["synth", "--out", str(tmp_path / "sixray"), "--scanner", "sixray", *common]) == 0  # same bags
    capsys.readouterr()
    assert main(["rescreen", str(tmp_path / "vivid"), "--out", str(tmp_path / "shown"), "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == {
        "scans": 3, "failed": [], "scanner": "sixray", "out": str(tmp_path / "shown")}
    before, after, truth = (load_dataset(tmp_path / d) for d in ("vivid", "shown", "sixray"))
    assert [s.boxes for s in after] == [s.boxes for s in before] and [s.bags for s in after] == [s.bags for s in before]
    assert not (tmp_path / "shown" / "raw").exists()
    near, far = [], []
    for b, a, t in zip(before, after, truth):
        img = {k: cv2.imread(str(s.image)).astype(int) for k, s in (("b", b), ("a", a), ("t", t))}
        inside = np.zeros(img["t"].shape[:2], bool)
        for x1, y1, x2, y2 in t.bags:
            inside[int(y1):int(y2), int(x1):int(x2)] = True
        near.append(np.abs(img["a"] - img["t"])[inside].mean())
        far.append(np.abs(img["b"] - img["t"])[inside].mean())
    # inside the bags the copy is much nearer sixray's own rendering than the vivid scan was
    # (measured 6.6 / 25.3 / 3.9 against 40.8 / 52.0 / 35.6; noise, JPEG and a frame's belt tone differ)
    assert np.mean(near) < 0.4 * np.mean(far)
    # refuses to write into a non-empty folder or into the dataset itself
    assert main(["rescreen", str(tmp_path / "vivid"), "--out", str(tmp_path / "shown")]) == 2
    assert main(["rescreen", str(tmp_path / "vivid"), "--out", str(tmp_path / "vivid" / "x")]) == 2
    assert "not empty" in capsys.readouterr().err


def test_a_bad_setting_is_one_line_naming_its_variable(capsys, monkeypatch):
    monkeypatch.setenv("LANEWATCH_METRICS_PORT", "abc")
    assert main(["serve", "crop"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["lanewatch serve: error: LANEWATCH_METRICS_PORT: Input should be a valid integer, unable to parse "
                   "string as an integer"]
    monkeypatch.delenv("LANEWATCH_METRICS_PORT")
    monkeypatch.setenv("LANEWATCH_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("LANEWATCH_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    assert main(["console", "lanes"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "SASL_SSL needs LANEWATCH_KAFKA_SASL_MECHANISM" in line and "errors.pydantic.dev" not in line
