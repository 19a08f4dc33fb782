"""The model card's Recipe section: from-scratch runs, revisions, and warm-started runs."""

from __future__ import annotations

import torch

from sewstream.train.card import earlier_history, training_section
from sewstream.train.corpus import CorpusReader
from sewstream.train.trainer import EvalSet, Trainer, export, revise_run

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


def test_a_precision_revision_is_stated_without_the_schedule_explanation(corpus, tmp_path):
    run(corpus, tmp_path / "run", recipe(corpus), 3)
    revise_run(tmp_path / "run", [("bf16", False)], log=lambda _: None)
    before, after = training_section(tmp_path / "run", 2), training_section(tmp_path / "run", 4)
    assert "bf16 autocast" in before and "float32" not in before
    assert "float32" in after and "At step 3 the recipe was revised: `bf16` True -> False" in after
    assert "cosine curve" not in after  # only a total_steps revision moves the schedule


def test_chunk_attention_is_stated_when_it_was_on(corpus, tmp_path):
    r = recipe(corpus)
    run(corpus, tmp_path / "plain", r, 1)
    assert "within chunks" not in training_section(tmp_path / "plain", 1)
    r.chunk_attention_prob, r.chunk_attention_s = 0.5, (0.6, 2.6, 1.6)
    run(corpus, tmp_path / "chunked", r, 1)
    assert "On 50% of steps attention stayed within chunks of 0.6-2.6 s" in training_section(tmp_path / "chunked", 1)

    assert "Waveform augmentation changed" not in training_section(tmp_path / "plain", 1)


def test_intermediate_ctc_is_stated_when_it_was_on(corpus, tmp_path):
    r = recipe(corpus)
    run(corpus, tmp_path / "plain", r, 1)
    assert "Intermediate CTC" not in training_section(tmp_path / "plain", 1)
    r.inter_ctc_weight, r.inter_ctc_layer = 0.3, 1
    run(corpus, tmp_path / "inter", r, 1)
    assert ("Intermediate CTC: the loss was 0.7 x the CTC loss plus 0.3 x that of the same output head reading"
            " layer 1." in training_section(tmp_path / "inter", 1))


def test_changed_augmentation_settings_are_stated(corpus, tmp_path):
    r = recipe(corpus)
    r.augment = {"speed_range": [0.8, 1.2], "p_speed": 0.9}
    run(corpus, tmp_path / "run", r, 1)
    assert ("Waveform augmentation changed from its defaults: `p_speed` 0.9, `speed_range` [0.8, 1.2]."
            in training_section(tmp_path / "run", 1))


def test_a_flat_schedule_and_shipped_weight_averaging_are_stated(corpus, tmp_path):
    r = recipe(corpus)
    r.min_lr_ratio, r.swa_from_step, r.swa_every, r.eval_every = 1.0, 2, 2, 6
    test = CorpusReader(corpus, "test")
    evals = [EvalSet("synthetic-test", [test.audio(0)], [test.text(0)])]
    Trainer(r, tmp_path / "run", CorpusReader(corpus, "train"), evals, log=lambda _: None).run(max_steps=6)
    section = training_section(tmp_path / "run", 6, swa_samples=3)
    assert "constant after it (to step 50)" in section and "cosine" not in section
    assert "every 2 steps from step 2 to step 6, 3 samples" in section
    assert "weight averaging" not in training_section(tmp_path / "run", 6)  # best/ shipped: no mean to state
    # the eval table shows the mean's curve beside the run's when the mean is what ships
    assert "synthetic-test (swa) WER" in section
    assert "(swa)" not in training_section(tmp_path / "run", 6)


def test_warm_started_section_carries_the_earlier_models_history(corpus, tmp_path):
    first = run(corpus, tmp_path / "first", recipe(corpus), 4)
    shipped = export(first.model, tmp_path / "shipped", dtype=torch.float32)
    card = f"# card\n\n## Recipe\n{training_section(tmp_path / 'first', 4)}\n\n## Measured accuracy\nnumbers\n"
    (shipped / "README.md").write_text(card)
    assert "Progressive depth" in earlier_history(card) and "numbers" not in earlier_history(card)

    warm = recipe(corpus).warm_started(2)
    warm.init_from = str(shipped)
    second = run(corpus, tmp_path / "second", warm, 2)
    section = training_section(tmp_path / "second", 2)
    assert section.startswith("2 stages")
    stage1, stage2 = section.split("### Stage 2: this run, from stage 1's weights")
    assert "### Stage 1: from scratch" in stage1 and "Progressive depth" in stage1 and "Ended at step 4" in stage1
    assert "2 layers on from step 0" in stage2 and "Ended at step 2" in stage2 and f"lr {warm.lr}" in stage2
    assert f"Corpus: `{corpus.name}`" in stage2
    assert "The conv feature encoder was trained too" in stage2 and "frozen (no gradient)" not in stage2
    assert "conv feature encoder" not in stage1  # from scratch: trained, as a matter of course

    # a third stage from the second: three stages in order, each told once
    shipped2 = export(second.model, tmp_path / "shipped2", dtype=torch.float32)
    (shipped2 / "README.md").write_text(f"# card\n\n## Recipe\n{section}\n\n## Measured accuracy\nnumbers\n")
    third = recipe(corpus).warm_started(1)
    third.init_from, third.lr, third.freeze_feature_encoder = str(shipped2), 1e-5, True
    run(corpus, tmp_path / "third", third, 1)
    section3 = training_section(tmp_path / "third", 1)
    heads = [line for line in section3.splitlines() if line.startswith("### Stage")]
    assert heads == ["### Stage 1: from scratch", "### Stage 2: from stage 1's weights",
                     "### Stage 3: this run, from stage 2's weights"]
    assert section3.startswith("3 stages") and section3.count("stages, each a new run") == 1
    assert section3.count("Progressive depth") == 1 and "lr 1e-05" in section3.split("### Stage 3")[1]
    assert "The conv feature encoder was frozen (no gradient)." in section3.split("### Stage 3")[1]

    (shipped / "README.md").unlink()
    unknown = training_section(tmp_path / "second", 2)
    assert "no card was found" in unknown and "### Stage 1: the model it started from" in unknown


def test_corpus_line_reads_the_corpus_summary(tmp_path):
    import json

    from sewstream.train.card import corpus_line

    assert corpus_line(tmp_path / "gone") == "Corpus: `gone` (its summary was not found)."
    train = {"hours": 15.0, "voices": 641, "sentences": 13430, "engine_hours": {"flite": 3.7, "espeak-ng": 4.5}}
    (tmp_path / "summary.json").write_text(json.dumps({"splits": {"train": train}}))
    assert corpus_line(tmp_path) == (f"Corpus: `{tmp_path.name}`, 15 hours, 641 training voices, 13,430 sentences "
                                     "(espeak-ng 4.5 h, flite 3.7 h).")


def test_paths_inside_the_repository_are_shown_relative():
    from sewstream.defaults import DEFAULT_MODEL_DIR
    from sewstream.train.card import shown_path

    assert shown_path(DEFAULT_MODEL_DIR) == "sewstream/assets/default-model"
    assert shown_path("/elsewhere/model") == "/elsewhere/model"


def test_a_card_says_a_path_outside_the_repository_is_machine_local():
    from sewstream.defaults import DEFAULT_MODEL_DIR
    from sewstream.train.card import path_md

    assert path_md(DEFAULT_MODEL_DIR) == "`sewstream/assets/default-model`"
    assert path_md("/elsewhere/run/best") == "`/elsewhere/run/best` (on the training machine, not shipped)"


def test_ship_script_names_a_last_stage_corpus_that_differs_from_the_first(tmp_path):
    import json

    from .test_keyword_mining import load_script

    ship = load_script("ship_default_model")
    first, later = tmp_path / "corpus", tmp_path / "corpus5"
    later.mkdir()
    train = {"hours": 15.0, "voices": 641, "sentences": 13430, "engine_hours": {"mbrola": 2.2}}
    (later / "summary.json").write_text(json.dumps({"splits": {"train": train},
                                                    "config": {"test_voices": ["mbrola:us3"]}}))
    warm = {"corpus": str(later), "init_from": "sewstream/assets/default-model"}
    text = ship.later_corpus(warm, str(first))
    assert "`corpus5`, 15 hours, 641 training voices" in text and "Held-out voices there: mbrola:us3" in text
    assert "Corpus:" not in text and "Later training stages used other corpora" in text
    assert ship.later_corpus(warm, str(later)) == ""  # same corpus as the first stages
    assert ship.later_corpus({**warm, "init_from": None}, str(first)) == ""  # not warm-started
    # a merged corpus (corpus_merge) holds out its sources' voices and says what it is made of
    first.mkdir()
    (first / "summary.json").write_text(json.dumps({"splits": {"train": train},
                                                    "config": {"test_voices": ["flite:rms"]}}))
    merged = tmp_path / "corpus-w3"
    merged.mkdir()
    (merged / "summary.json").write_text(json.dumps({"merged_from": [str(first), str(later)], "train_repeats": [1, 3],
                                                     "splits": {"train": train}}))
    text = ship.later_corpus({**warm, "corpus": str(merged)}, str(first))
    assert "Held-out voices there: flite:rms, mbrola:us3" in text
    assert "merged from `corpus`, `corpus5` (training split listed 3 times)" in text


def test_ship_script_carries_a_given_lm_over_or_builds_one_from_the_corpus(corpus, tmp_path):
    import gzip

    from .test_keyword_mining import load_script

    ship = load_script("ship_default_model")
    built, origin = ship.place_lm(tmp_path / "built.arpa.gz", None, str(corpus))
    assert built.words and "distinct training sentences" in origin
    plain = tmp_path / "lm.arpa"
    plain.write_bytes(gzip.decompress((tmp_path / "built.arpa.gz").read_bytes()))
    for given in (plain, tmp_path / "built.arpa.gz"):  # plain ARPA is gzipped, .gz copied as it is
        out = tmp_path / f"from-{given.name}.gz"
        lm, origin = ship.place_lm(out, str(given), "/no/such/corpus")  # the corpus is not read
        assert lm.words == built.words and gzip.decompress(out.read_bytes()) == plain.read_bytes()
        assert "carried over unchanged" in origin


def test_ship_script_refuses_a_missing_lm_or_two_lm_sources_before_building(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "scripts" / "ship_default_model.py"
    for extra, message in ((["--lm", str(tmp_path / "nope.arpa")], "--lm: language model"),
                           (["--lm", "x.arpa", "--corpus", "c"], "give one of them")):
        r = subprocess.run([sys.executable, str(script), "--run", str(tmp_path / "run"),
                            "--dest", str(tmp_path / "dest"), *extra], capture_output=True, text=True)
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr
        assert not (tmp_path / "dest.new").exists()
