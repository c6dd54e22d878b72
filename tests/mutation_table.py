"""The mutations the fast suite once missed (docs/testing.md): apply each to a scratch copy of
src/ under /tmp/mut-src, run the fast tests that must catch it, print caught or MISSED.

    python tests/mutation_table.py          # all of them
    python tests/mutation_table.py 5 8      # some, by number
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
MUTATIONS = [
    (
        "KL reduction mean -> sum",
        "losses.py",
        "    return per_image.mean()\n",
        "    return per_image.sum()\n",
        ["tests/test_losses.py"],
    ),
    (
        "target features without no_grad",
        "losses.py",
        "        with torch.no_grad():\n            target = network(x)",
        "        if True:\n            target = network(x)",
        ["tests/test_loss_networks.py", "tests/test_losses.py"],
    ),
    (
        "VGG relu3_1 index 11 -> 10",
        "loss_networks/vgg.py",
        "layers=_relu_indices(),",
        'layers={**_relu_indices(), "relu3_1": 10},',
        ["tests/test_loss_networks.py", "tests/test_losses.py"],
    ),
    (
        "loss network not frozen",
        "loss_networks/base.py",
        "        self.requires_grad_(False)\n",
        "",
        ["tests/test_loss_networks.py"],
    ),
    (
        "ttest_rel -> ttest_ind",
        "analysis/quality.py",
        "        result = ttest_rel(a, b)",
        "        result = ttest_ind(a, b)\n        from scipy.stats import ttest_ind",
        ["tests/test_analysis_quality.py", "tests/test_values_independent.py"],
    ),
    (
        "evaluate scores the second run on a shuffled order",
        "analysis/evaluate.py",
        "        mu, logvar = encode_posterior(run.model, originals, batch_size)",
        "        originals = originals if name == names[0] else originals.flip(0)\n"
        "        mu, logvar = encode_posterior(run.model, originals, batch_size)",
        ["tests/test_commands_end_to_end.py", "-k", "evaluate or report"],
    ),
    (
        "cache key without the source fingerprint",
        "data/cache.py",
        "options = [CACHE_VERSION, name, split, image_size, channels, crop, limit, fingerprint]",
        "options = [CACHE_VERSION, name, split, image_size, channels, crop, limit]",
        ["tests/test_data_cache_rebuild.py"],
    ),
    (
        "interpolation always linear",
        "analysis/grids.py",
        "path = (slerp if spherical else lerp)(z_left, z_right, steps)",
        "path = lerp(z_left, z_right, steps)",
        ["tests/test_commands_end_to_end.py", "-k", "interpolate"],
    ),
    (
        "evaluate's MSE against originals shifted by one",
        "analysis/evaluate.py",
        '"mse": mse_per_image(recon, originals),',
        '"mse": mse_per_image(recon, originals.roll(1, 0)),',
        ["tests/test_commands_end_to_end.py", "-k", "evaluate"],
    ),
    (
        "report names the loser as the winner (== -> !=)",
        "report/findings.py",
        'a_wins = (test["mean_difference"] > 0) == (info["better"] == "higher")',
        'a_wins = (test["mean_difference"] > 0) != (info["better"] == "higher")',
        ["tests/test_report_findings.py"],
    ),
    (
        "LossNetwork.train(mode) follows mode",
        "loss_networks/base.py",
        "-> LossNetwork:\n        return super().train(False)",
        "-> LossNetwork:\n        return super().train(mode)",
        ["tests/test_training_behaviours.py", "-k", "eval_mode"],
    ),
    (
        "KL warm-up step fixed at 0 in training",
        "training/module.py",
        "terms = self.criterion(x, out, self.global_step)",
        "terms = self.criterion(x, out, 0)",
        ["tests/test_training_behaviours.py", "-k", "kl_weight"],
    ),
]


def main(only: list[str]) -> int:
    missed = 0
    for index, (name, file, old, new, tests) in enumerate(MUTATIONS):
        if only and str(index) not in only:
            continue
        scratch = Path(f"/tmp/mut-src/{index}")
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.copytree(ROOT / "src", scratch, ignore=shutil.ignore_patterns("__pycache__"))
        path = scratch / "dfcvae" / file
        text = path.read_text()
        assert text.count(old) == 1, (name, text.count(old))
        path.write_text(text.replace(old, new))
        env = {**os.environ, "PYTHONPATH": str(scratch), "PYTHONDONTWRITEBYTECODE": "1"}
        check = subprocess.run(
            [PY, "-c", "import dfcvae; print(dfcvae.__file__)"],
            env=env,
            capture_output=True,
            text=True,
            cwd=ROOT,
        ).stdout.strip()
        assert check.startswith(str(scratch)), check
        result = subprocess.run(
            [
                "nice",
                "-n",
                "5",
                PY,
                "-m",
                "pytest",
                "-q",
                "-x",
                "-p",
                "no:cacheprovider",
                "-m",
                "not slow",
                *tests,
            ],
            env=env,
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        last = [line for line in result.stdout.splitlines() if line.strip()][-1:]
        verdict = "caught" if result.returncode == 1 else f"MISSED (rc {result.returncode})"
        missed += result.returncode != 1
        print(
            f"{index:2d} {name}: {verdict} by {' '.join(tests)} -- {last[0] if last else ''}",
            flush=True,
        )
    return int(missed > 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
