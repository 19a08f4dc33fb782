"""The training loop: determinism, exact resume, export in HF layout, lr schedule."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch

from sewstream.model import load_model
from sewstream.train.batches import Prefetcher
from sewstream.train.corpus import CorpusReader
from sewstream.train.curves import read_log
from sewstream.train.recipe import Recipe
from sewstream.train.trainer import (
    EvalSet,
    Trainer,
    chunk_attention_at,
    greedy_decode,
    lr_at,
    revise_run,
    tokenizer,
)

TINY = dict(vocab_size=32, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=48,
            conv_dim=(16, 16, 32), conv_stride=(5, 4, 16), conv_kernel=(10, 4, 16), feat_extract_norm="layer",
            conv_bias=True, num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2, squeeze_factor=2,
            hidden_dropout=0.1, mask_time_prob=0.1, mask_time_length=2, layerdrop=0.0)


def recipe(corpus) -> Recipe:
    return Recipe(corpus=str(corpus), architecture=dict(TINY), batch_seconds=3.0, warmup_steps=2, total_steps=50,
                  augment_from_step=2, augment_ramp_steps=2, spec_augment_from_step=3, eval_every=4,
                  eval_utterances=4, log_every=2, curriculum_steps=4, max_utterance_seconds=1.0)


def trainer(corpus, run_dir) -> Trainer:
    test = CorpusReader(corpus, "test")
    audio, texts = [test.audio(i) for i in range(len(test))], [test.text(i) for i in range(len(test))]
    evals = [EvalSet("synthetic-test", audio, texts)]
    return Trainer(recipe(corpus), run_dir, CorpusReader(corpus, "train"), evals, log=lambda _: None)


def test_resume_reproduces_an_uninterrupted_run(corpus, tmp_path):
    straight = trainer(corpus, tmp_path / "a")
    straight.run(max_steps=6)
    first = trainer(corpus, tmp_path / "b")
    first.run(max_steps=3)
    resumed = trainer(corpus, tmp_path / "b")  # a new process would do exactly this
    assert resumed.step == 3
    resumed.run(max_steps=6)
    for (name, a), (_, b) in zip(straight.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.equal(a, b), name
    losses = [json.loads(line)["loss"] for line in (tmp_path / "a" / "log.jsonl").read_text().splitlines()
              if "loss" in line]
    assert len(losses) == 3 and all(np.isfinite(losses))


def test_eval_exports_a_loadable_checkpoint(corpus, tmp_path):
    t = trainer(corpus, tmp_path / "run")
    t.run(max_steps=4)
    best = tmp_path / "run" / "best"
    assert {"config.json", "model.safetensors", "vocab.json", "preprocessor_config.json", "eval.json"} <= {
        p.name for p in best.iterdir()}
    model = load_model(best)
    test = CorpusReader(corpus, "test")
    ours = greedy_decode(model, [test.audio(0)], tokenizer())
    theirs = greedy_decode(t.model, [test.audio(0)], tokenizer())
    assert ours == theirs
    assert json.loads((best / "preprocessor_config.json").read_text())["do_normalize"] is False
    rows = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert any("eval" in row and "synthetic-test" in row["eval"] for row in rows)


def test_log_says_how_long_the_loop_waited_for_batches(corpus, tmp_path):
    import time

    t = trainer(corpus, tmp_path / "run")
    make = t._prefetcher

    class Slow:  # a batch source far slower than the tiny model's steps
        def __init__(self):
            self.inner = make()

        def next(self):
            time.sleep(0.3)
            return self.inner.next()

        def close(self):
            self.inner.close()

    t._prefetcher = Slow
    t.run(max_steps=2)
    rows = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    slow = [row["data_wait"] for row in rows if "loss" in row]
    assert slow and all(0.5 < w <= 1.0 for w in slow)

    fast = trainer(corpus, tmp_path / "fast")
    fast.run(max_steps=4)
    rows = [json.loads(line) for line in (tmp_path / "fast" / "log.jsonl").read_text().splitlines()]
    assert all(0.0 <= row["data_wait"] <= 1.0 for row in rows if "loss" in row)


def test_lr_schedule():
    r = Recipe(lr=1e-3, warmup_steps=10, total_steps=110, min_lr_ratio=0.1)
    assert lr_at(r, 0) == pytest.approx(1e-4) and lr_at(r, 9) == pytest.approx(1e-3)
    assert lr_at(r, 60) == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5))
    assert lr_at(r, 110) == pytest.approx(1e-4) and lr_at(r, 500) == pytest.approx(1e-4)


def test_progressive_depth_and_shallow_export(corpus, tmp_path):
    from sewstream.train.trainer import active_layers, export

    arch = dict(TINY, num_hidden_layers=4)
    r = Recipe(architecture=arch, depth_schedule=[[0, 1], [10, 3], [20, 9]])
    assert [active_layers(r, s) for s in (0, 9, 10, 25)] == [1, 1, 3, 4]
    t = Trainer(Recipe(corpus=str(corpus), architecture=arch, depth_schedule=[[0, 2]], batch_seconds=3.0,
                       max_utterance_seconds=1.0, eval_every=100), tmp_path / "run",
                CorpusReader(corpus, "train"), [], log=lambda _: None)
    t.run(max_steps=2)
    assert t.model.backbone.encoder.active_layers == 2
    assert t.model.backbone.encoder.layers[3].attention.q_proj.weight.grad is None  # never switched on
    export(t.model, tmp_path / "shallow", dtype=torch.float32, layers=2)
    shallow = load_model(tmp_path / "shallow")
    assert shallow.config.num_hidden_layers == 2
    audio = torch.randn(1, 8000)
    t.model.eval()
    with torch.no_grad():
        assert torch.equal(shallow(audio).logits, t.model(audio).logits)  # same function at depth 2


def test_revise_run_changes_the_schedule_from_the_checkpoint_on_and_records_it(corpus, tmp_path):
    first = trainer(corpus, tmp_path / "run")
    first.run(max_steps=3)
    before = lr_at(first.recipe, 4)
    revised = revise_run(tmp_path / "run", [("total_steps", 7)], log=lambda _: None)
    assert revised.total_steps == 7 and lr_at(revised, 4) < before
    on_disk = Recipe.from_dict(json.loads((tmp_path / "run" / "recipe.json").read_text()))
    assert on_disk.total_steps == 7
    records = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert {"revision": "total_steps", "old": 50, "new": 7, "step": 3} in records
    losses, evals = read_log(tmp_path / "run" / "log.jsonl")  # the curves skip revision lines
    assert all("loss" in rec for rec in losses.values())
    resumed = Trainer(on_disk, tmp_path / "run", first.train, first.eval_sets, log=lambda _: None)
    resumed.run()  # runs to the new end, and measures it although 7 is off the eval grid (every 4)
    assert resumed.step == 7
    assert sorted(read_log(tmp_path / "run" / "log.jsonl")[1]) == [4, 7]
    with pytest.raises(ValueError, match="unknown recipe field 'total_step'"):
        revise_run(tmp_path / "run", [("total_step", 9)], log=lambda _: None)


def test_prefetcher_close_waits_for_its_thread():
    """A batch thread left inside torch at interpreter exit aborts the process (exit 134)."""
    building = threading.Event()

    def make(step: int):
        building.set()
        torch.ones(64, 64) @ torch.ones(64, 64)  # some torch work, like a real batch
        return step

    prefetch = Prefetcher(make, first_step=5, depth=1)
    assert prefetch.next() == 5
    assert building.wait(5)
    prefetch.close()
    assert not prefetch.thread.is_alive()


def test_warm_start_continues_from_a_shallower_export_and_resume_keeps_the_checkpoint(corpus, tmp_path):
    from sewstream.train.trainer import export, fresh_model

    arch = dict(TINY, num_hidden_layers=4)
    base = Recipe(corpus=str(corpus), architecture=arch, depth_schedule=[[0, 2]], batch_seconds=3.0,
                  max_utterance_seconds=1.0, eval_every=100)
    first = Trainer(base, tmp_path / "first", CorpusReader(corpus, "train"), [], log=lambda _: None)
    first.run(max_steps=2)
    export(first.model, tmp_path / "shipped", dtype=torch.float32, layers=2)

    warm = base.warm_started(2)
    warm.init_from, warm.seed = str(tmp_path / "shipped"), 1  # another seed: init is not what matches
    assert warm.depth_schedule == [[0, 2]] and warm.augment_from_step == 0 and warm.lr == base.lr / 2
    said = []
    second = Trainer(warm, tmp_path / "second", CorpusReader(corpus, "train"), [], log=said.append)
    assert any("initialised from" in line and "transformer layers 3, 4, not in it" in line
               and "off until the depth schedule" in line for line in said), said
    shipped, audio = load_model(tmp_path / "shipped"), torch.randn(1, 8000)
    second.model.eval()
    with torch.no_grad():
        assert torch.equal(shipped(audio).logits, second.model(audio).logits)
    # the layers the export lacks keep the (near-identity) init of the new run's seed
    untouched = fresh_model(warm).backbone.encoder.layers[3].state_dict()
    for name, tensor in second.model.backbone.encoder.layers[3].state_dict().items():
        assert torch.equal(tensor, untouched[name]), name
    second.run(max_steps=2)
    trained = {k: v.clone() for k, v in second.model.state_dict().items()}
    resumed = Trainer(warm, tmp_path / "second", CorpusReader(corpus, "train"), [], log=lambda _: None)
    assert resumed.step == 2  # last.pt wins over init_from
    for name, tensor in resumed.model.state_dict().items():
        assert torch.equal(tensor, trained[name]), name


def test_warm_start_names_a_tensor_that_does_not_fit(corpus, tmp_path):
    from sewstream.train.trainer import export, fresh_model, warm_start

    export(fresh_model(recipe(corpus)), tmp_path / "small", dtype=torch.float32)
    wider = Recipe(architecture=dict(TINY, hidden_size=48, intermediate_size=64))
    with pytest.raises(ValueError, match=r"init_from .*small: '.*' is \(32.*\) there, \(48.*\) in the recipe"):
        warm_start(fresh_model(wider), tmp_path / "small")


def test_prefetcher_workers_build_the_same_batches_as_the_thread(corpus):
    from sewstream.train.batches import Batcher

    def augment(audio, rng, step):
        return audio * rng.uniform(0.5, 1.5) + 0.001 * rng.standard_normal(len(audio)).astype(np.float32)

    make = Batcher(CorpusReader(corpus, "train"), tokenizer().encode, seed=3, batch_seconds=3.0,
                   max_seconds=lambda step: 1.0, augment=augment)
    threaded, forked = Prefetcher(make, first_step=4), Prefetcher(make, first_step=4, workers=2)
    try:
        for step in range(4, 12):
            a, b = threaded.next(), forked.next()
            assert a.step == b.step == step
            assert torch.equal(a.input_values, b.input_values) and torch.equal(a.labels, b.labels)
    finally:
        threaded.close()
        forked.close()


def test_prefetcher_workers_hand_a_batch_error_to_the_loop():
    def make(step: int):
        if step == 6:
            raise RuntimeError("corrupt utterance at step 6")
        return step

    prefetch = Prefetcher(make, first_step=5, workers=2)
    try:
        assert prefetch.next() == 5
        with pytest.raises(RuntimeError, match="corrupt utterance at step 6"):
            prefetch.next()
    finally:
        prefetch.close()


def test_frozen_feature_encoder_stays_put_while_the_rest_trains(corpus, tmp_path):
    r = recipe(corpus)
    r.freeze_feature_encoder = True
    t = Trainer(r, tmp_path / "run", CorpusReader(corpus, "train"), [], log=lambda _: None)
    before = {n: p.detach().clone() for n, p in t.model.named_parameters()}
    t.run(max_steps=3)
    conv = [n for n in before if ".feature_extractor." in n]
    assert conv and all(torch.equal(before[n], t.model.state_dict()[n]) for n in conv)
    moved = [n for n in before if n not in conv and not torch.equal(before[n], t.model.state_dict()[n])]
    assert any("layers.0." in n for n in moved) and any("lm_head" in n for n in moved)
    resumed = Trainer(r, tmp_path / "run", CorpusReader(corpus, "train"), [], log=lambda _: None)
    assert resumed.step == 3  # the optimizer state (without the frozen tensors) loads back


def test_chunk_attention_is_drawn_per_step_from_the_seed(corpus, tmp_path):
    r = recipe(corpus)
    assert all(chunk_attention_at(r, step) is None for step in range(20))  # off by default
    r.chunk_attention_prob, r.chunk_attention_s = 0.5, (0.6, 2.6, 1.6)
    drawn = [chunk_attention_at(r, step) for step in range(200)]
    assert drawn == [chunk_attention_at(r, step) for step in range(200)]  # a resumed run redraws the same
    on = [c for c in drawn if c is not None]
    assert 70 < len(on) < 130
    # TINY squeezes 320 samples x 2 into one frame: 40 ms, so 0.6-2.6 s is 15-65 frames, left 40
    assert {c.left for c in on} == {40} and 15 <= min(c.chunk for c in on) < max(c.chunk for c in on) <= 65
    assert all(0 <= c.offset < c.chunk for c in on)
    r.seed = 1
    assert [chunk_attention_at(r, step) for step in range(200)] != drawn

    r.chunk_attention_prob = 1.0
    t = Trainer(r, tmp_path / "run", CorpusReader(corpus, "train"), [], log=lambda _: None)
    t.run(max_steps=2)
    assert t.model.backbone.encoder.chunk_attention == chunk_attention_at(r, 1)
    assert t.evaluate() == {} and t.model.backbone.encoder.chunk_attention is None  # evaluated as exported


def test_describe_fresh_names_the_layers_a_warm_start_left_and_whether_they_are_on():
    from sewstream.train.trainer import describe_fresh

    parts = ("attention.q_proj.weight", "final_layer_norm.bias")
    names = [f"sew.encoder.layers.{i}.{part}" for i in (10, 11) for part in parts]
    assert describe_fresh(names, 12) == "transformer layers 11, 12, not in it, start near identity (on now)"
    assert describe_fresh(names, 11).endswith("(on now: 11)")
    assert describe_fresh(names, 10).endswith("(off until the depth schedule reaches them)")
    with_head = describe_fresh(names + ["lm_head.bias"], 12)
    assert "1 other tensors it lacks keep their init (e.g. 'lm_head.bias')" in with_head
    assert describe_fresh([], 10) == "every tensor loaded"


def test_the_recipes_augment_settings_reach_the_augmenter_and_the_saved_recipe(corpus, tmp_path):
    r = recipe(corpus)
    r.augment = {"speed_range": [0.8, 1.2], "p_reverb": 0.5}
    t = Trainer(r, tmp_path / "run", CorpusReader(corpus, "train"), [], log=lambda _: None)
    assert t.augmenter.config.speed_range == (0.8, 1.2) and t.augmenter.config.p_reverb == 0.5
    saved = Recipe.from_dict(json.loads((tmp_path / "run" / "recipe.json").read_text()))
    assert saved.augment == {"speed_range": [0.8, 1.2], "p_reverb": 0.5}
    assert Trainer(recipe(corpus), tmp_path / "plain", CorpusReader(corpus, "train"), [],
                   log=lambda _: None).augmenter.config.speed_range == (0.9, 1.1)


def _weights(t: Trainer) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in t.model.state_dict().items()}


def test_swa_is_the_mean_of_the_sampled_weights_and_survives_a_resume(corpus, tmp_path):
    def swa_trainer(run_dir):
        test = CorpusReader(corpus, "test")
        evals = [EvalSet("synthetic-test", [test.audio(i) for i in range(2)], [test.text(i) for i in range(2)])]
        r = recipe(corpus)
        r.swa_from_step, r.swa_every, r.eval_every = 2, 2, 6
        return Trainer(r, run_dir, CorpusReader(corpus, "train"), evals, log=lambda _: None)

    t = swa_trainer(tmp_path / "run")
    samples = []
    for stop in (1, 2, 3, 4):
        t.run(max_steps=stop)
        if stop % 2 == 0:
            samples.append(_weights(t))
    assert t.swa_count == 2 and not (tmp_path / "run" / "swa").exists()  # exported at evals only
    resumed = swa_trainer(tmp_path / "run")  # a new process: the mean comes back from last.pt
    assert resumed.swa_count == 2
    resumed.run(max_steps=6)  # samples step 6, then evaluates at 6
    samples.append(_weights(resumed))
    assert resumed.swa_count == 3
    for name in samples[0]:
        mean = sum(s[name] for s in samples) / 3
        torch.testing.assert_close(resumed.swa[name], mean, rtol=0, atol=1e-6)
    assert not torch.equal(resumed.swa[name], samples[-1][name])  # a mean, not the last sample
    exported = load_model(tmp_path / "run" / "swa")
    torch.testing.assert_close(exported.state_dict()[name], mean, rtol=0, atol=1e-6)
    report = json.loads((tmp_path / "run" / "swa" / "eval.json").read_text())
    assert report["step"] == 6 and report["swa_count"] == 3 and "synthetic-test" in report
    rows = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows if "swa_eval" in row] == [6]


def test_swa_off_by_default_and_bad_settings_are_named():
    assert Recipe().swa_from_step is None
    with pytest.raises(ValueError, match="swa_from_step=0"):
        Recipe(swa_from_step=0).check()
    with pytest.raises(ValueError, match="swa_every='10'"):
        Recipe(swa_from_step=5, swa_every="10").check()


def _batch(corpus):
    from sewstream.train.batches import Batcher

    return Batcher(CorpusReader(corpus, "train"), tokenizer().encode, seed=0, batch_seconds=3.0,
                   max_seconds=lambda _: 1.0)(0)


def test_intermediate_ctc_is_the_output_head_on_a_lower_layer(corpus):
    from sewstream.model import build_model
    from sewstream.train.trainer import training_losses

    arch = {**TINY, "num_hidden_layers": 3}
    torch.manual_seed(0)
    model = build_model(Recipe(architecture=arch).model_config(), "SEWForCTC").eval()  # no dropout
    with torch.no_grad():  # random layers start near identity: make the upper ones matter
        for p in model.backbone.encoder.layers[1:].parameters():
            p.add_(0.5 * torch.randn_like(p))
    batch = _batch(corpus)
    args = (batch.input_values, batch.labels, batch.attention_mask)
    plain = model(batch.input_values, labels=batch.labels, attention_mask=batch.attention_mask).loss
    loss, ctc, inter = training_losses(model, *args, Recipe(architecture=arch))
    assert inter is None and torch.equal(loss, plain) and torch.equal(ctc, plain)  # off by default

    r = Recipe(architecture=arch, inter_ctc_weight=0.3, inter_ctc_layer=1)
    loss, ctc, inter = training_losses(model, *args, r)
    model.backbone.encoder.active_layers = 1  # the same head reading layer 1: a 1-layer stack's output
    shallow = model(batch.input_values, labels=batch.labels, attention_mask=batch.attention_mask).loss
    model.backbone.encoder.active_layers = None
    torch.testing.assert_close(ctc, plain)
    torch.testing.assert_close(inter, shallow)
    torch.testing.assert_close(loss, 0.7 * plain + 0.3 * shallow)
    assert abs(float(inter) - float(plain)) > 1e-3  # a different layer, a different loss

    model.backbone.encoder.active_layers = 1  # progressive depth: nothing above layer 1 yet, so off
    assert training_losses(model, *args, r)[2] is None


def test_intermediate_ctc_trains_logs_its_loss_and_checks_its_settings(corpus, tmp_path):
    r = recipe(corpus)
    r.inter_ctc_weight, r.inter_ctc_layer = 0.3, 1
    Trainer(r, tmp_path / "run", CorpusReader(corpus, "train"), [], log=lambda _: None).run(max_steps=4)
    rows = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    logged = [row for row in rows if "loss" in row]
    assert len(logged) == 2 and all(np.isfinite(row["inter_loss"]) for row in logged)
    assert json.loads((tmp_path / "run" / "recipe.json").read_text())["inter_ctc_weight"] == 0.3
    with pytest.raises(ValueError, match="inter_ctc_weight=1.0"):
        Recipe(inter_ctc_weight=1.0).check()
    with pytest.raises(ValueError, match="inter_ctc_layer=12: expected a layer number from 1 to 11"):
        Recipe(inter_ctc_layer=12, inter_ctc_weight=0.3).check()
    Recipe(architecture={**TINY, "num_hidden_layers": 1}).check()  # off: its layer is not checked
    with pytest.raises(ValueError, match="inter_ctc_layer='5'"):
        Recipe(inter_ctc_layer="5").check()
    with pytest.raises(ValueError, match="needs layerdrop 0"):
        Recipe(architecture={**TINY, "layerdrop": 0.1}, inter_ctc_weight=0.2, inter_ctc_layer=1).check()
