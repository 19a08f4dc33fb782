"""scripts/ship_default_model.py --average-with: the mean of a run's weights and another package's."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from sewstream.defaults import DEFAULT_MODEL_DIR
from sewstream.model import load_model
from sewstream.train.trainer import export
from tests.conftest import SPEECH_DIR

from .conftest import clip_set
from .conftest import run_script as script

SPEECH = SPEECH_DIR / "misc"


def test_average_with_ships_the_mean_and_says_so_in_the_card(corpus, tmp_path):
    run = tmp_path / "run"
    started = script("train_default_model.py", "--run", run, "--corpus", corpus, "--init-from",
                     DEFAULT_MODEL_DIR, "--steps", 0, "--real-speech", tmp_path / "none", "--device", "cpu")
    assert started.returncode == 0, started.stderr
    shutil.copytree(DEFAULT_MODEL_DIR, run / "best", ignore=shutil.ignore_patterns("README.md", "lm.arpa.gz"))
    (run / "best" / "eval.json").write_text(json.dumps({"step": 0}))
    clips = clip_set(tmp_path / "clips", SPEECH, 2)  # two short real clips keep the card's evaluation quick

    # a model of another shape is refused by name, before anything is evaluated
    other = load_model(DEFAULT_MODEL_DIR)
    small = type(other)(other.config.replace(num_hidden_layers=2))
    export(small, tmp_path / "small")
    refused = script("ship_default_model.py", "--run", run, "--dest", tmp_path / "out", "--lm",
                     Path(DEFAULT_MODEL_DIR) / "lm.arpa.gz", "--average-with", tmp_path / "small")
    assert refused.returncode == 2 and "--average-with: the models differ in" in refused.stderr
    assert "Traceback" not in refused.stderr and not (tmp_path / "out").exists()

    # --weights swa needs the run's running-mean export, and says so when there is none
    no_swa = script("ship_default_model.py", "--run", run, "--dest", tmp_path / "out", "--weights", "swa",
                    "--lm", Path(DEFAULT_MODEL_DIR) / "lm.arpa.gz")
    assert no_swa.returncode == 2 and "no swa/ export" in no_swa.stderr and "swa_from_step" in no_swa.stderr
    assert "Traceback" not in no_swa.stderr and not (tmp_path / "out").exists()

    # keyword clips alone cannot fill the card's sentence tables: said, nothing shipped
    keyword_only = tmp_path / "kw" / "speech-commands"
    shutil.copytree(clips, keyword_only)
    none = script("ship_default_model.py", "--run", run, "--dest", tmp_path / "out", "--synthetic", clips,
                  "--real", tmp_path / "kw", "--pocketsphinx", tmp_path / "none.json", "--lm",
                  Path(DEFAULT_MODEL_DIR) / "lm.arpa.gz")
    assert none.returncode == 1 and "no sentence sets, only keyword clips" in none.stderr
    assert "Traceback" not in none.stderr and not (tmp_path / "out").exists()

    # with a model of the same lineage (here: itself) the mean is taken in float32 from float16
    shipped = script("ship_default_model.py", "--run", run, "--dest", tmp_path / "out", "--synthetic", clips,
                     "--real", clips, "--pocketsphinx", tmp_path / "none.json", "--lm",
                     Path(DEFAULT_MODEL_DIR) / "lm.arpa.gz", "--average-with", DEFAULT_MODEL_DIR,
                     "--average-with", run / "best")  # and a soup: a third copy, named by its run's step
    assert shipped.returncode == 0, shipped.stderr
    mean, source = load_model(tmp_path / "out").state_dict(), load_model(DEFAULT_MODEL_DIR).state_dict()
    for name, tensor in source.items():
        assert torch.equal(mean[name], tensor), name  # the mean of x and x, rounded to float16, is x
    card = (tmp_path / "out" / "README.md").read_text()
    stages = card.count("### Stage ")
    assert "**The shipped weights are the element-wise mean** of this run's at step 0" in card
    # the package it averaged with is the stage before, or a mean of it and an earlier one (its card says)
    assert f"(stage {stages - 1} above)" in card or f"(itself the mean of stage {stages - 1} and " in card
    recipe = json.loads((run / "recipe.json").read_text())  # a run's best: its step and how it trained
    assert (f"and of step 0 of a {recipe['total_steps']}-step run (lr {recipe['lr']:g}, seed {recipe['seed']}) "
            f"at `{run}` (on the training machine, not shipped), each as ") in card
    assert "averaged uniformly in float32" in card
