"""scripts/train_default_model.py: a new run warm-started from the shipped model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch

from sewstream.defaults import DEFAULT_MODEL_DIR
from sewstream.model import load_model

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "train_default_model.py"


def train(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          timeout=240)


def test_init_from_the_shipped_model_starts_a_run_from_its_weights(corpus, tmp_path):
    run = tmp_path / "run"
    done = train("--run", run, "--corpus", corpus, "--init-from", DEFAULT_MODEL_DIR, "--steps", 0,
                 "--real-speech", tmp_path / "none", "--device", "cpu")
    assert done.returncode == 0, done.stderr
    assert "initialised from" in done.stdout
    recipe = json.loads((run / "recipe.json").read_text())
    shipped = load_model(DEFAULT_MODEL_DIR)
    layers = shipped.config.num_hidden_layers
    assert recipe["init_from"] == str(Path(DEFAULT_MODEL_DIR).resolve())
    assert recipe["depth_schedule"] == [[0, layers]] and recipe["spec_augment_from_step"] == 0
    state = torch.load(run / "last.pt", map_location="cpu", weights_only=False)
    assert state["step"] == 0
    for name, tensor in shipped.state_dict().items():
        assert torch.equal(state["model"][name], tensor), name

    again = train("--run", run, "--corpus", corpus, "--init-from", DEFAULT_MODEL_DIR, "--steps", 0)
    assert again.returncode == 2 and "--init-from starts a new run" in again.stderr

    # --export: the run's latest weights as a checkpoint (how a lent GPU machine returns them)
    exported = train("--run", run, "--export", tmp_path / "final")
    assert exported.returncode == 0, exported.stderr
    assert "step 0" in exported.stdout
    final = load_model(tmp_path / "final")
    assert final.config.num_hidden_layers == layers
    for name, tensor in shipped.state_dict().items():
        assert torch.equal(final.state_dict()[name], tensor), name
    none = train("--run", tmp_path / "nothing", "--export", tmp_path / "x")
    assert none.returncode == 2 and "has no last.pt" in none.stderr


def test_init_from_a_directory_without_a_model_is_a_clear_error(corpus, tmp_path):
    done = train("--run", tmp_path / "run", "--corpus", corpus, "--init-from", tmp_path, "--steps", 0)
    assert done.returncode == 2
    assert "--init-from" in done.stderr and "no config.json" in done.stderr and "Traceback" not in done.stderr


def test_a_bad_recipe_value_is_named_before_anything_runs(corpus, tmp_path):
    for item, named in (("chunk_attention_prob=2", "chunk_attention_prob=2"),
                        ('chunk_attention_prob="half"', "chunk_attention_prob='half'"),
                        ("chunk_attention_s=[2.6,0.6,1.6]", "chunk_attention_s=[2.6, 0.6, 1.6]"),
                        ('augment={"speed_rang": [0.8, 1.2]}', "augment.speed_rang: not an augmentation setting"),
                        ('augment={"p_reverb": 2}', "augment.p_reverb=2: expected a probability"),
                        ("augment=[0.8,1.2]", "augment=[0.8, 1.2]: expected a mapping")):
        done = train("--run", tmp_path / "run", "--corpus", corpus, "--set", item, "--steps", 0)
        assert done.returncode == 2, done.stderr
        assert named in done.stderr and "Traceback" not in done.stderr
        assert not (tmp_path / "run" / "last.pt").exists()
