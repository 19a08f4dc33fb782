"""The model card's "Recipe" section, written from a run directory.

What the card says about training must be what happened: the recipe as the shipped step was
trained (revisions made at or after it undone), the devices the run used, the eval curve up
to that step, and, for a run started from an earlier model (``init_from``), that model's
own training history, taken from its card, ahead of this run's.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from .curves import eval_table, read_log, read_records, with_swa_evals

SECTION, END = "## Recipe\n", "\n## Measured accuracy"
REPO = Path(__file__).resolve().parents[2]


def shown_path(path: str | Path) -> str:
    """``path`` as a card should name it: relative to the repository when inside it (a card is
    read on other machines, where this checkout's absolute path means nothing)."""
    resolved = Path(path).resolve()
    return str(resolved.relative_to(REPO)) if resolved.is_relative_to(REPO) else str(path)


def path_md(path: str | Path) -> str:
    """``path`` as card markdown: code-quoted, and said to be machine-local when outside the
    repository (a run directory the card can name but not ship)."""
    if Path(path).resolve().is_relative_to(REPO):
        return f"`{shown_path(path)}`"
    return f"`{path}` (on the training machine, not shipped)"


def recipe_at(run: Path, step: int) -> tuple[dict, list[dict]]:
    """The recipe that made ``run``'s weights at ``step`` (revisions recorded later undone) and the
    revisions before that step."""
    recipe = json.loads((run / "recipe.json").read_text())
    revisions = read_records(run / "log.jsonl", "revision")
    for r in reversed(revisions):  # a run may have gone on, with a new schedule, past the shipped step
        if r["step"] >= step:
            recipe[r["revision"]] = r["old"]
    return recipe, [r for r in revisions if r["step"] < step]


def _devices(run: Path, step: int) -> str:
    used = sorted({r["device"].split(":")[0] for r in read_records(run / "log.jsonl", "device") if r["step"] < step})
    return " and ".join("a GPU" if d == "cuda" else "2 CPU cores" if d == "cpu" else d for d in used) or "2 CPU cores"


def earlier_history(card: str) -> str:
    """The Recipe section of an earlier model's card (empty if it has none)."""
    start = card.find(SECTION)
    if start < 0:
        return ""
    end = card.find(END, start)
    return card[start + len(SECTION): end if end >= 0 else None].strip()


_STAGE = re.compile(r"^### Stage \d+: .*$", re.M)


def earlier_stages(history: str) -> list[str]:
    """The bodies of an earlier card's training stages, oldest first (a card of one run is one stage)."""
    history = history.replace("This model: step", "Ended at step")  # older cards' wording
    if not _STAGE.search(history):
        return [history] if history else []
    return [body.strip() for body in _STAGE.split(history)[1:]]


def corpus_line(corpus: str | Path) -> str:
    """What a stage trained on, from the corpus's summary.json (its path alone if that is missing:
    a run trained on a lent machine names a path that existed only there)."""
    summary = Path(corpus) / "summary.json"
    if not summary.is_file():
        return f"Corpus: `{Path(corpus).name}` (its summary was not found)."
    data = json.loads(summary.read_text())
    train = data["splits"]["train"]
    engines = ", ".join(f"{e} {h:.1f} h" for e, h in sorted(train["engine_hours"].items(), key=lambda x: -x[1]))
    merged = ""
    if data.get("merged_from"):  # corpus_merge: say what it is made of, and which parts count twice
        repeats = data.get("train_repeats") or [1] * len(data["merged_from"])
        parts = ", ".join(f"`{Path(src).name}`" + (f" (training split listed {n} times)" if n > 1 else "")
                          for src, n in zip(data["merged_from"], repeats, strict=True))
        merged = f"; merged from {parts}"
    return (f"Corpus: `{Path(corpus).name}`, {train['hours']:.0f} hours, {train['voices']} training voices, "
            f"{train['sentences']:,} sentences ({engines}){merged}.")


def held_out_voices(corpus: str | Path) -> list[str]:
    """The voices a built corpus held out for its test split (a merged corpus: its sources');
    [] when its summary is missing."""
    summary = Path(corpus) / "summary.json"
    if not summary.is_file():
        return []
    data = json.loads(summary.read_text())
    if data.get("merged_from"):
        return sorted({v for src in data["merged_from"] for v in held_out_voices(src)})
    return list(data.get("config", {}).get("test_voices", []))


def training_section(run: str | Path, step: int, swa_samples: int | None = None) -> str:
    """Markdown for the card's "## Recipe" section (without the heading) of ``run`` at ``step``;
    ``swa_samples``: the shipped weights are the run's SWA mean of that many samples (``swa/``)."""
    run = Path(run)
    r, revisions = recipe_at(run, step)
    losses, evals = read_log(run / "log.jsonl")
    if swa_samples:  # the shipped weights are the running mean: show its curve beside the run's
        evals = with_swa_evals(evals, run / "log.jsonl")
    evals = {s: e for s, e in evals.items() if s <= step}
    upto = [r for s, r in losses.items() if s <= step]
    hours_seen = upto[-1]["hours_seen"] if upto else 0.0
    encoder = ""  # from scratch the encoder is trained as a matter of course; a warm start says which
    if r.get("freeze_feature_encoder"):
        encoder = " The conv feature encoder was frozen (no gradient)."
    elif r.get("init_from"):
        encoder = " The conv feature encoder was trained too (not frozen)."
    precision = "bf16 autocast" if r.get("bf16", True) else "float32"
    if r.get("chunk_attention_prob", 0) > 0:
        shortest, longest, left = r["chunk_attention_s"]
        encoder += (f" On {r['chunk_attention_prob']:.0%} of steps attention stayed within chunks of"
                    f" {shortest}-{longest} s (no look-ahead past the chunk, {left} s of left context),"
                    " so the model does not lean on context a streaming window cuts off.")
    if r.get("inter_ctc_weight", 0) > 0:
        w = r["inter_ctc_weight"]
        encoder += (f" Intermediate CTC: the loss was {1 - w:g} x the CTC loss plus {w:g} x that of the same output"
                    f" head reading layer {r['inter_ctc_layer']}.")
    if r.get("augment"):
        changed = ", ".join(f"`{k}` {v}" for k, v in sorted(r["augment"].items()))
        encoder += f" Waveform augmentation changed from its defaults: {changed}."
    if swa_samples:
        start, every = r["swa_from_step"], r["swa_every"]
        encoder += (f" The weights are the stage's running mean (stochastic weight averaging): every {every} steps"
                    f" from step {start} to step {start + every * (swa_samples - 1)}, {swa_samples} samples,"
                    " averaged uniformly in float32.")
    decay = (f"constant after it (to step {r['total_steps']})" if r.get("min_lr_ratio") == 1.0
             else f"cosine decay over {r['total_steps']} steps")
    common = (f"AdamW (lr {r['lr']}, betas {r['betas']}, weight decay {r['weight_decay']}), warm-up "
              f"{r['warmup_steps']} steps, {decay}, ~{r['batch_seconds']:.0f} s "
              f"of audio per batch (length-bucketed), {precision}, gradient clipping {r['grad_clip']}.{encoder}")
    revised = "".join(f"\nAt step {x['step']} the recipe was revised: `{x['revision']}` {x['old']} -> {x['new']}."
                      for x in revisions)
    if any(x["revision"] == "total_steps" for x in revisions):
        revised += (" Each `total_steps` revision moves the cosine curve from that step on, so the learning rate"
                    " jumps there;"
                    " the first schedule assumed far more steps than CPU-only training allowed, and the end was"
                    " then fitted to the time each session had left.")
    curve = (f"Training curve (greedy error rates on the trainer's held-out eval sets every {r['eval_every']} "
             "steps; `python scripts/plot_training.py` draws it with the loss):\n\n" + eval_table(evals, losses))
    this = f"Ended at step {step}, {hours_seen:.0f} hours of audio seen, on {_devices(run, step)}."
    if not r.get("init_from"):
        return f"""`scripts/train_default_model.py` (resumable, deterministic given the seed): {common}
Progressive depth: training starts with {r['depth_schedule'][0][1]} active transformer layers and switches
further layers on (residual branches initialised at {r['residual_init_scale']}x, so each starts close to
identity) on this schedule: {r['depth_schedule']}, because deep post-LN stacks sit on the CTC blank plateau
far longer than shallow ones. SpecAugment from step {r['spec_augment_from_step']}, waveform augmentation
ramped in from step {r['augment_from_step']}.
{revised.strip()}
{this}

{curve}"""
    source = Path(r["init_from"]) / "README.md"
    stages = earlier_stages(earlier_history(source.read_text())) if source.is_file() else []
    first = "from scratch" if stages else "the model it started from"
    if not stages:
        stages = [f"(no card was found at {source}: the earlier training is not recorded here)"]
    n = len(stages) + 1
    titles = [first] + [f"from stage {i}'s weights" for i in range(1, n - 1)]
    earlier = "\n\n".join(f"### Stage {i}: {t}\n\n{b}" for i, (t, b) in enumerate(zip(titles, stages), 1))
    return f"""{n} stages, each a new run started from the weights of the one before with a fresh optimizer
(`scripts/train_default_model.py --init-from`); the last is this model, started from the one then at
{path_md(r['init_from'])}.

{earlier}

### Stage {n}: this run, from stage {n - 1}'s weights

{corpus_line(r['corpus'])}
{common} {r['depth_schedule'][0][1]} layers on from step 0, SpecAugment and waveform augmentation in full
from step 0 (`Recipe.warm_started`); step numbers below count from the start of this stage.
{revised.strip()}
{this}

{curve}"""
