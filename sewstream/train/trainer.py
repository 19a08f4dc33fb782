"""The training loop for the default model: resumable, deterministic, logged.

A run directory holds ``recipe.json`` (every knob), ``last.pt`` (model, optimizer, step,
RNG state; written atomically every few minutes and at exit), ``log.jsonl`` (one line per
logged step or evaluation) and ``best/``, the best model so far by held-out synthetic CER,
exported in Hugging Face layout; with weight averaging on (``swa_from_step``), ``swa/`` is
the running mean of the weights, exported and evaluated at each eval. Start the same command again and it resumes;
``revise_run`` changes the recipe of a stopped run from its current step on, with a record.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sewstream.model import SEWForCTC, build_model, load_model
from sewstream.model.transformer import ChunkAttention
from sewstream.text import CTCTokenizer, FeatureExtractor
from sewstream.text.metrics import ErrorRate, cer, wer

from .augment import Augmenter, active_power, apply_gain, augment_config
from .batches import SAMPLE_RATE, Batcher, Prefetcher, Utterances
from .curves import read_log
from .recipe import Recipe
from .vocab import VOCAB


@dataclass
class EvalSet:
    name: str
    audios: list[np.ndarray]
    texts: list[str]


def lr_at(recipe: Recipe, step: int) -> float:
    """Linear warm-up, then cosine decay to ``min_lr_ratio * lr`` at ``total_steps``."""
    if step < recipe.warmup_steps:
        return recipe.lr * (step + 1) / recipe.warmup_steps
    progress = min(1.0, (step - recipe.warmup_steps) / max(1, recipe.total_steps - recipe.warmup_steps))
    floor = recipe.min_lr_ratio
    return recipe.lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def active_layers(recipe: Recipe, step: int) -> int:
    """Transformer layers in use at ``step`` under the recipe's depth schedule."""
    layers = recipe.architecture["num_hidden_layers"]
    for start, n in recipe.depth_schedule:
        if step >= start:
            layers = min(n, recipe.architecture["num_hidden_layers"])
    return layers


def chunk_attention_at(recipe: Recipe, step: int) -> ChunkAttention | None:
    """The chunk attention for ``step`` (None: full attention); a function of the
    seed and step only, so a resumed run makes the same choices."""
    if recipe.chunk_attention_prob <= 0:
        return None
    rng = np.random.default_rng([recipe.seed, step, 0xC4A7])
    if rng.random() >= recipe.chunk_attention_prob:
        return None
    config = recipe.model_config()
    frame_s = config.inputs_to_logits_ratio * config.squeeze_factor / SAMPLE_RATE
    shortest, longest, left = (round(s / frame_s) for s in recipe.chunk_attention_s)
    chunk = int(rng.integers(max(1, shortest), max(1, longest) + 1))
    return ChunkAttention(chunk, left, offset=int(rng.integers(chunk)))


def training_losses(model: SEWForCTC, input_values: torch.Tensor, labels: torch.Tensor,
                    attention_mask: torch.Tensor, recipe: Recipe
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(the loss to minimise, the output head's CTC loss, the intermediate CTC loss or None).

    With ``recipe.inter_ctc_weight`` > 0 the output head (and its dropout) also reads layer
    ``inter_ctc_layer``'s output, upsampled as the last layer's is."""
    active = model.backbone.encoder.active_layers
    k, w = recipe.inter_ctc_layer, recipe.inter_ctc_weight
    inter_on = w > 0 and (active is None or active > k)
    out = model(input_values, labels=labels, attention_mask=attention_mask, output_hidden_states=inter_on)
    if not inter_on:
        return out.loss, out.loss, None
    hidden = model.backbone.encoder.upsample(out.hidden_states[k], out.logits.shape[1])
    inter = model.ctc_loss_of(model.lm_head(model.dropout(hidden)), labels, attention_mask)
    return (1 - w) * out.loss + w * inter, out.loss, inter


def _log_window() -> dict:
    """Sums over the steps between two log rows."""
    return {"loss": 0.0, "inter": 0.0, "n_inter": 0, "n": 0, "audio": 0.0, "wait": 0.0, "t": time.time()}


def fresh_model(recipe: Recipe) -> SEWForCTC:
    torch.manual_seed(recipe.seed)
    model = build_model(recipe.model_config(), "SEWForCTC")
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith(("attention.out_proj.weight", "feed_forward.output_dense.weight")):
                param.mul_(recipe.residual_init_scale)
        # Raw audio goes in un-normalised, so at quiet levels the first conv's output is small:
        # a small (but nonzero, see recipe.py) bias keeps it from drowning the signal.
        first = model.backbone.feature_extractor.conv_layers[0].conv
        torch.nn.init.uniform_(first.bias, -0.02, 0.02)
    return model


def warm_start(model: SEWForCTC, source: str | Path) -> list[str]:
    """Copy an exported checkpoint's weights into ``model`` (the recipe's architecture).

    Every tensor of the source must exist in the model with the same shape; the model's
    transformer layers a shallower export lacks keep their near-identity init, as if
    progressive depth had not reached them yet. Returns the names left untouched.
    """
    loaded = load_model(source).state_dict()
    own = model.state_dict()
    for name, tensor in loaded.items():
        if name not in own:
            raise ValueError(f"init_from {source}: tensor {name!r} has no place in the recipe's architecture")
        if own[name].shape != tensor.shape:
            raise ValueError(f"init_from {source}: {name!r} is {tuple(tensor.shape)} there, "
                             f"{tuple(own[name].shape)} in the recipe's architecture")
    model.load_state_dict(loaded, strict=False)
    return [name for name in own if name not in loaded]


_LAYER = re.compile(r"\.layers\.(\d+)\.")


def describe_fresh(names: list[str], active: int) -> str:
    """What a warm start left at its init, in words: which transformer layers (1-based), whether
    they are on (warm_started() switches on the source's layers only; a deeper depth_schedule
    also switches on ones it lacks), and any other tensors."""
    if not names:
        return "every tensor loaded"
    found, others = set(), []
    for name in names:  # one pass: a layer's tensor names its index, anything else is listed apart
        if m := _LAYER.search(name):
            found.add(int(m.group(1)))
        else:
            others.append(name)
    layers = sorted(found)

    def one_based(idx: list[int]) -> str:
        return ", ".join(str(i + 1) for i in idx)

    parts = []
    if layers:
        on = [i for i in layers if i < active]
        state = ("on now" if on == layers else f"on now: {one_based(on)}" if on
                 else "off until the depth schedule reaches them")
        parts.append(f"transformer layers {one_based(layers)}, not in it, start near identity ({state})")
    if others:
        parts.append(f"{len(others)} other tensors it lacks keep their init (e.g. {others[0]!r})")
    return "; ".join(parts)


def tokenizer() -> CTCTokenizer:
    return CTCTokenizer(dict(VOCAB), frame_seconds=0.02)


def greedy_decode(model: SEWForCTC, audios: list[np.ndarray], tok: CTCTokenizer, batch: int = 8) -> list[str]:
    """Offline full-context transcription (one forward per utterance, padded batches)."""
    out = []
    order = sorted(range(len(audios)), key=lambda i: len(audios[i]))
    texts: dict[int, str] = {}
    model.eval()
    device = next(model.parameters()).device
    with torch.inference_mode():
        for start in range(0, len(order), batch):
            rows = order[start:start + batch]
            longest = max(len(audios[i]) for i in rows)
            x = torch.zeros(len(rows), longest)
            mask = torch.zeros(len(rows), longest, dtype=torch.long)
            for r, i in enumerate(rows):
                x[r, : len(audios[i])] = torch.from_numpy(audios[i])
                mask[r, : len(audios[i])] = 1
            x, mask = x.to(device), mask.to(device)
            ids = model(x, attention_mask=mask).logits.argmax(-1).cpu()
            frames = model.frame_lengths(mask.sum(-1)).cpu()
            for r, i in enumerate(rows):
                texts[i] = tok.decode(ids[r, : frames[r]].tolist())
    out = [texts[i] for i in range(len(audios))]
    return out


def revise_run(run_dir: str | Path, changes: list[tuple[str, object]],
               log: Callable[[str], None] = print) -> Recipe:
    """Change recipe fields of an existing (stopped) run from its checkpoint's step on, e.g. a
    shorter ``total_steps`` to fit the compute that is left. Each change is logged to
    ``log.jsonl`` with the step, so the curves say where the recipe changed."""
    run_dir = Path(run_dir)
    recipe = Recipe.from_dict(json.loads((run_dir / "recipe.json").read_text()))
    checkpoint = run_dir / "last.pt"
    step = torch.load(checkpoint, map_location="cpu", weights_only=False)["step"] if checkpoint.exists() else 0
    for key, value in changes:
        if key not in Recipe.__dataclass_fields__:
            raise ValueError(f"unknown recipe field {key!r}")
        old = getattr(recipe, key)
        setattr(recipe, key, value)
        log(f"revised {key}: {old!r} -> {value!r} (from step {step})")
        with open(run_dir / "log.jsonl", "a") as f:
            f.write(json.dumps({"revision": key, "old": old, "new": value, "step": step}) + "\n")
    (run_dir / "recipe.json").write_text(json.dumps(recipe.to_dict(), indent=2) + "\n")
    return Recipe.from_dict(recipe.to_dict())


class Trainer:
    def __init__(self, recipe: Recipe, run_dir: str | Path, train: Utterances,
                 eval_sets: list[EvalSet], log: Callable[[str], None] = print,
                 reload_train: Callable[[], Utterances] | None = None, device: str | torch.device = "cpu",
                 workers: int = 0) -> None:
        self.recipe, self.run_dir, self.train, self.eval_sets, self.say = recipe, Path(run_dir), train, eval_sets, log
        self.reload_train = reload_train  # a corpus still being built: picked up again at each eval
        self.device, self.workers = torch.device(device), workers  # workers: batch-building processes
        self.run_dir.mkdir(parents=True, exist_ok=True)
        torch.set_num_threads(recipe.threads)
        self.tok = tokenizer()
        self.model = fresh_model(recipe)
        if recipe.init_from and not self.checkpoint_path.exists():
            fresh = warm_start(self.model, recipe.init_from)
            left = describe_fresh(fresh, active_layers(recipe, 0))  # a warm start is always a new run
            self.say(f"initialised from {recipe.init_from}; {left}")
        self.model.to(self.device)
        if recipe.freeze_feature_encoder:
            for p in self.model.backbone.feature_extractor.parameters():
                p.requires_grad_(False)
        trained = [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]
        decay = [p for n, p in trained if p.dim() > 1 and "masked_spec_embed" not in n]
        no_decay = [p for n, p in trained if p.dim() <= 1 or "masked_spec_embed" in n]
        self.optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": recipe.weight_decay},
                                            {"params": no_decay, "weight_decay": 0.0}],
                                           lr=recipe.lr, betas=recipe.betas)
        self.step, self.audio_seconds, self.best_cer = 0, 0.0, float("inf")
        # SWA: the running mean of the weights sampled so far, and how many samples it holds
        self.swa: dict[str, torch.Tensor] | None = None
        self.swa_count = 0
        # babble noise made of other (deterministically chosen) corpus utterances
        pool_rng = np.random.default_rng(recipe.seed)
        pool = [train.audio(int(i)) for i in pool_rng.choice(len(train), min(100, len(train)), replace=False)]
        self.augmenter = Augmenter(seed=recipe.seed, config=augment_config(recipe.augment), babble_pool=pool)
        self._resume()
        self.model.backbone.encoder.active_layers = active_layers(recipe, self.step)

    # ------------------------------------------------------------------ state
    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / "last.pt"

    def _resume(self) -> None:
        recipe_file = self.run_dir / "recipe.json"
        if not recipe_file.exists():
            recipe_file.write_text(json.dumps(self.recipe.to_dict(), indent=2) + "\n")
        if not self.checkpoint_path.exists():
            return
        state = torch.load(self.checkpoint_path, map_location="cpu", weights_only=False)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step, self.audio_seconds = state["step"], state["audio_seconds"]
        self.best_cer = state.get("best_cer", float("inf"))
        self.swa, self.swa_count = state.get("swa"), state.get("swa_count", 0)
        torch.set_rng_state(state["torch_rng"])
        self.say(f"resumed {self.run_dir} at step {self.step} ({self.audio_seconds / 3600:.1f} h of audio seen)")

    def save(self) -> None:
        state = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(), "step": self.step,
                 "audio_seconds": self.audio_seconds, "best_cer": self.best_cer, "torch_rng": torch.get_rng_state(),
                 "recipe": self.recipe.to_dict(), "swa": self.swa, "swa_count": self.swa_count}
        tmp = self.checkpoint_path.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.checkpoint_path)  # atomic: a crash never leaves half a checkpoint

    def _log(self, row: dict) -> None:
        with open(self.run_dir / "log.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")

    # ------------------------------------------------------------------- data
    def _augment(self, audio: np.ndarray, rng: np.random.Generator, step: int) -> np.ndarray:
        """Random level always (the model sees raw audio); the rest ramps in after the plateau."""
        r = self.recipe
        strength = np.clip((step - r.augment_from_step) / max(1, r.augment_ramp_steps), 0.0, 1.0)
        if rng.random() < strength:
            return self.augmenter(audio, rng)  # includes its own random level
        power = active_power(audio)
        level = rng.uniform(*self.augmenter.config.level_dbfs_range)
        return apply_gain(audio, level - 10 * np.log10(power)) if power > 0 else audio

    def _max_seconds(self, step: int) -> float:
        r = self.recipe
        return 4.0 + (r.max_utterance_seconds - 4.0) * min(1.0, step / max(1, r.curriculum_steps))

    # ------------------------------------------------------------------- loop
    def evaluate(self, model: SEWForCTC | None = None) -> dict:
        """Greedy WER/CER at the current depth (layers not yet switched on are near-identity,
        but the exported model runs all of them; export happens at full depth only)."""
        model = model if model is not None else self.model
        results = {}
        model.backbone.encoder.chunk_attention = None  # evaluated as exported: full attention
        for s in self.eval_sets:
            hyps = greedy_decode(model, s.audios, self.tok)
            w, c = wer(s.texts, hyps), cer(s.texts, hyps)
            results[s.name] = {"wer": round(w.rate, 4), "cer": round(c.rate, 4), "example": hyps[0][:80]}
        self.model.train()
        return results

    def export_best(self, results: dict) -> None:
        if not results:
            return  # no eval sets: nothing to call best
        first = next(iter(results.values()))
        if first["cer"] < self.best_cer:
            self.best_cer = first["cer"]
            export(self.model, self.run_dir / "best", dtype=torch.float32,
                   layers=active_layers(self.recipe, self.step))
            (self.run_dir / "best" / "eval.json").write_text(json.dumps({"step": self.step, **results}, indent=2))

    def _evaluate_and_export(self) -> None:
        results = self.evaluate()
        self._log({"step": self.step, "eval": results, "time": time.time()})
        self.say(f"eval @ {self.step}: " + "  ".join(
            f"{k} WER {v['wer']:.3f} CER {v['cer']:.3f}" for k, v in results.items()))
        self.export_best(results)
        if self.swa_count:
            self._evaluate_and_export_swa()

    # -------------------------------------------------------- weight averaging
    def _swa_due(self) -> bool:
        start = self.recipe.swa_from_step
        return start is not None and self.step >= start and (self.step - start) % self.recipe.swa_every == 0

    def _swa_update(self) -> None:
        """Fold the current weights into the running mean (float32 on the CPU, like an export)."""
        weights = {k: v.detach().float().cpu() for k, v in self.model.state_dict().items()}
        self.swa_count += 1
        if self.swa is None:
            self.swa = {k: v.clone() for k, v in weights.items()}
            return
        for k, v in weights.items():
            self.swa[k] += (v - self.swa[k]) / self.swa_count

    def _evaluate_and_export_swa(self) -> None:
        averaged = fresh_model(self.recipe)
        averaged.load_state_dict(self.swa)
        averaged.to(self.device)
        averaged.backbone.encoder.active_layers = active_layers(self.recipe, self.step)
        results = self.evaluate(averaged.eval())
        self._log({"step": self.step, "swa_eval": results, "swa_count": self.swa_count, "time": time.time()})
        self.say(f"swa eval @ {self.step} (mean of {self.swa_count}): " + "  ".join(
            f"{k} WER {v['wer']:.3f} CER {v['cer']:.3f}" for k, v in results.items()))
        export(averaged, self.run_dir / "swa", dtype=torch.float32, layers=active_layers(self.recipe, self.step))
        (self.run_dir / "swa" / "eval.json").write_text(json.dumps(
            {"step": self.step, "swa_count": self.swa_count, **results}, indent=2))

    def _prefetcher(self) -> Prefetcher:
        r = self.recipe
        batcher = Batcher(self.train, self.tok.encode, seed=r.seed, batch_seconds=r.batch_seconds,
                          max_seconds=self._max_seconds, augment=self._augment)
        return Prefetcher(batcher, self.step, workers=self.workers)

    def run(self, max_steps: int | None = None, max_minutes: float | None = None) -> None:
        r = self.recipe
        stop_at = time.time() + 60 * max_minutes if max_minutes else float("inf")
        last_step = min(r.total_steps if max_steps is None else max_steps, r.total_steps)
        prefetch = self._prefetcher()
        interrupted = []
        previous = signal.signal(signal.SIGTERM, lambda *_: interrupted.append(True))
        self.model.train()
        self._log({"step": self.step, "device": str(self.device), "workers": self.workers, "time": time.time()})
        last_save, window = time.time(), _log_window()
        try:
            while self.step < last_step and time.time() < stop_at and not interrupted:
                waited = time.perf_counter()
                batch = prefetch.next()
                window["wait"] += time.perf_counter() - waited  # what batch building costs the loop
                assert batch.step == self.step
                lr = lr_at(r, self.step)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                self.model.config.apply_spec_augment = self.step >= r.spec_augment_from_step
                self.model.backbone.encoder.active_layers = active_layers(r, self.step)
                self.model.backbone.encoder.chunk_attention = chunk_attention_at(r, self.step)
                with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=r.bf16):
                    loss, ctc, inter = training_losses(self.model, batch.input_values.to(self.device),
                                                       batch.labels.to(self.device),
                                                       batch.attention_mask.to(self.device), r)
                loss.backward()
                grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), r.grad_clip)
                self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
                self.step += 1
                self.audio_seconds += batch.seconds
                window["loss"] += ctc.item()  # the output head's loss, comparable across recipes
                window["n"] += 1
                if inter is not None:
                    window["inter"] += inter.item()
                    window["n_inter"] += 1
                window["audio"] += batch.seconds
                if self._swa_due():
                    self._swa_update()
                if self.step % r.log_every == 0:
                    elapsed = time.time() - window["t"]
                    row = {"step": self.step, "loss": round(window["loss"] / window["n"], 4), "lr": lr,
                           "grad_norm": round(float(grad_norm), 3), "hours_seen": round(self.audio_seconds / 3600, 3),
                           "x_realtime": round(window["audio"] / elapsed, 1),
                           "data_wait": round(min(window["wait"] / elapsed, 1.0), 3), "time": time.time()}
                    if window["n_inter"]:
                        row["inter_loss"] = round(window["inter"] / window["n_inter"], 4)
                    self._log(row)
                    self.say(f"step {self.step}  loss {row['loss']:.3f}  lr {lr:.2e}  "
                             f"{row['hours_seen']:.2f} h seen  {row['x_realtime']:.0f}x real time  "
                             f"waiting for batches {100 * row['data_wait']:.0f}%")
                    window = _log_window()
                if self.step % r.eval_every == 0:
                    self._evaluate_and_export()
                    self.save()
                    last_save = time.time()
                    if self.reload_train is not None:
                        fresh = self.reload_train()
                        if len(fresh) > len(self.train):
                            self.say(f"corpus grew: {len(self.train)} -> {len(fresh)} utterances")
                            self.train = fresh
                            prefetch.close()
                            prefetch = self._prefetcher()
                if time.time() - last_save > r.checkpoint_every_s:
                    self.save()
                    last_save = time.time()
            log = self.run_dir / "log.jsonl"
            if self.step == r.total_steps and (not log.exists() or self.step not in read_log(log)[1]):
                self._evaluate_and_export()  # the schedule's end: always measured, and a candidate for best/
        finally:
            prefetch.close()
            signal.signal(signal.SIGTERM, previous)
            self.save()
            self.say(f"saved {self.checkpoint_path} at step {self.step}")


def export(model: SEWForCTC, directory: str | Path, *, dtype: torch.dtype = torch.float16,
           layers: int | None = None) -> Path:
    """Write a complete HF-layout checkpoint: config, weights, vocab, preprocessor config.

    ``layers``: keep only the first N transformer layers (a model trained with progressive
    depth, exported before every layer was switched on, is a plain shallower SEW model).
    """
    directory = Path(directory)
    n = model.config.num_hidden_layers
    if layers is not None and layers < n:
        shallow = build_model(model.config.replace(num_hidden_layers=layers), "SEWForCTC", init=False)
        keep = {k: v for k, v in model.state_dict().items()
                if not any(f".layers.{i}." in k for i in range(layers, n))}
        shallow.load_state_dict(keep)
        model = shallow.eval()
    model.save_pretrained(directory, dtype=dtype)
    tokenizer().save_pretrained(directory)
    # raw audio in (no per-utterance normalisation): keeps conv features exactly local for streaming
    FeatureExtractor(do_normalize=False, return_attention_mask=True).save_pretrained(directory)
    return directory


def export_last(run_dir: str | Path, directory: str | Path, *, dtype: torch.dtype = torch.float32) -> int:
    """Export a run's latest weights (``last.pt``, whatever its eval said) as an HF checkpoint,
    at the depth active at that step; returns the step. The way weights leave a machine whose
    run directory cannot (the optimizer state is 3x the model)."""
    state = torch.load(Path(run_dir) / "last.pt", map_location="cpu", weights_only=False)
    recipe = Recipe.from_dict(state["recipe"])
    model = fresh_model(recipe)
    model.load_state_dict(state["model"])
    export(model.eval(), directory, dtype=dtype, layers=active_layers(recipe, state["step"]))
    return state["step"]


__all__ = ["Trainer", "EvalSet", "export", "export_last", "fresh_model", "greedy_decode", "lr_at", "warm_start",
           "ErrorRate"]
