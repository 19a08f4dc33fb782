"""The model card's Recipe section: from-scratch runs, revisions, and warm-started runs."""

from __future__ import annotations

import torch

from sewstream.train.card import earlier_history, training_section
from sewstream.train.corpus import CorpusReader
from sewstream.train.trainer import Trainer, export, revise_run

from .test_trainer import recipe


def run(corpus, run_dir, r, steps):
    t = Trainer(r, run_dir, CorpusReader(corpus, "train"), [], log=lambda _: None)
    t.run(max_steps=steps)
    return t


def test_from_scratch_section_states_the_recipe_as_the_shipped_step_was_trained(corpus, tmp_path):
    run(corpus, tmp_path / "run", recipe(corpus), 3)
    revise_run(tmp_path / "run", [("total_steps", 9)], log=lambda _: None)
    at_2 = training_section(tmp_path / "run", 2)  # a revision at step 3 is undone for step 2
    assert "cosine decay over 50 steps" in at_2 and "revised" not in at_2
    at_4 = training_section(tmp_path / "run", 4)
    assert "cosine decay over 9 steps" in at_4 and "At step 3 the recipe was revised: `total_steps` 50 -> 9" in at_4
    assert "on 2 CPU cores" in at_4 and "Stage" not in at_4 and "Progressive depth" in at_4


def test_warm_started_section_carries_the_earlier_models_history(corpus, tmp_path):
    first = run(corpus, tmp_path / "first", recipe(corpus), 4)
    shipped = export(first.model, tmp_path / "shipped", dtype=torch.float32)
    card = f"# card\n\n## Recipe\n{training_section(tmp_path / 'first', 4)}\n\n## Measured accuracy\nnumbers\n"
    (shipped / "README.md").write_text(card)
    assert "Progressive depth" in earlier_history(card) and "numbers" not in earlier_history(card)

    warm = recipe(corpus).warm_started(2)
    warm.init_from = str(shipped)
    run(corpus, tmp_path / "second", warm, 2)
    section = training_section(tmp_path / "second", 2)
    stage1, stage2 = section.split("### Stage 2: this run")
    assert "### Stage 1" in stage1 and "Progressive depth" in stage1 and "This model: step 4" in stage1
    assert "2 layers on from step 0" in stage2 and "This model: step 2" in stage2 and f"lr {warm.lr}" in stage2

    (shipped / "README.md").unlink()
    assert "no card was found" in training_section(tmp_path / "second", 2)


def test_paths_inside_the_repository_are_shown_relative():
    from sewstream.defaults import DEFAULT_MODEL_DIR
    from sewstream.train.card import shown_path

    assert shown_path(DEFAULT_MODEL_DIR) == "sewstream/assets/default-model"
    assert shown_path("/elsewhere/model") == "/elsewhere/model"
