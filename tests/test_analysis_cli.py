"""The analysis commands: thin shells that write files, and bad input as one line (exit 2)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dfcvae.cli import main
from dfcvae.cli.analysis_args import parse_strengths
from dfcvae.report.images import PADDING

TILE = 32 + PADDING


def grid_shape(path) -> tuple[int, int]:
    """(rows, columns) of 32x32 tiles in a make_grid PNG."""
    width, height = Image.open(path).size
    return (height - PADDING) // TILE, (width - PADDING) // TILE


def test_reconstruct_puts_the_reconstructions_under_the_inputs(tiny_run, tmp_path):
    out = tmp_path / "recon.png"
    assert main(["reconstruct", str(tiny_run), "--n", "6", "--nrow", "3", "-o", str(out),
                 "--quiet"]) == 0  # fmt: skip
    assert grid_shape(out) == (4, 3)  # 2 rows of inputs, each with its reconstructions


def test_sample_and_interpolate_write_grids(tiny_run, tmp_path):
    assert main(["sample", str(tiny_run), "--n", "4", "--temperature", "0.4",
                 "-o", str(tmp_path / "s.png")]) == 0  # fmt: skip
    assert grid_shape(tmp_path / "s.png") == (1, 4)
    assert main(["interpolate", str(tiny_run), "--steps", "5", "--rows", "2", "--spherical",
                 "-o", str(tmp_path / "i.png")]) == 0  # fmt: skip
    assert grid_shape(tmp_path / "i.png") == (2, 5)


def test_edit_sweeps_a_negative_strength_range(tiny_run, tmp_path, capsys):
    out = tmp_path / "edit.png"
    code = main(["edit", str(tiny_run), "--attribute", "Trouser", "--strength", "-1..1",
                 "--strength-steps", "3", "--n", "2", "-o", str(out), "--quiet"])  # fmt: skip
    assert code == 0
    assert grid_shape(out) == (2, 4)  # the input, then strengths -1, 0, 1
    assert "strengths: -1, 0, 1" in capsys.readouterr().out


def test_parse_strengths():
    assert parse_strengths("-2..2", 5) == [-2.0, -1.0, 0.0, 1.0, 2.0]
    assert parse_strengths("-1,0.5", 5) == [-1.0, 0.5]
    assert parse_strengths("1.5", 5) == [1.5]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["sample", "{run}", "--n", "0"], "--n 0: must be in 1..1,024"),
        (["sample", "{tmp}/missing"], "no such run directory"),
        (["reconstruct", "{tmp}"], "config.json: missing"),
        (["edit", "{run}", "--attribute", "Smiling", "--vectors", "{tmp}/none.safetensors"],
         "none.safetensors: missing"),
        (["tsne", "{run}", "--color-by", "Smiling"], "choose one of class, T-shirt/top"),
        (["edit", "{run}", "--attribute", "Trouser", "--strength", "a..b"], "--strength 'a..b'"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_status_2(tiny_run, tmp_path, capsys, argv, message):
    argv = [a.format(run=tiny_run, tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_tsne_of_fewer_than_three_codes_is_one_clear_error() -> None:
    from dfcvae.analysis.embedding import tsne_points
    from dfcvae.errors import InputError

    with pytest.raises(InputError, match="at least 3 points, got 2"):
        tsne_points(np.random.default_rng(0).normal(size=(2, 4)))
    assert tsne_points(np.random.default_rng(0).normal(size=(3, 4))).shape == (3, 2)


def test_an_unknown_attribute_lists_the_valid_ones(tiny_run, tmp_path, capsys):
    vectors = tmp_path / "v.safetensors"
    assert main(["attribute-vectors", str(tiny_run), "--limit", "100", "-o", str(vectors),
                 "--quiet"]) == 0  # fmt: skip
    assert main(["edit", str(tiny_run), "--attribute", "Smiling", "--vectors", str(vectors)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "'Smiling' does not exist: choose one of T-shirt/top, Trouser, Pullover" in err


def test_an_endpoint_of_the_wrong_size_is_resized_with_a_note(tiny_run, tmp_path, capsys):
    image = tmp_path / "big.png"
    Image.fromarray((np.random.default_rng(0).random((50, 40)) * 255).astype(np.uint8)).save(image)
    out = tmp_path / "i.png"
    assert main(["interpolate", str(tiny_run), "--left", str(image), "--right", "0",
                 "--steps", "3", "-o", str(out)]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert "dfcvae interpolate: warning:" in err and "40x50 resized to the model's 32x32" in err
    assert grid_shape(out) == (1, 3)
