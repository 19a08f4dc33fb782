"""The ``sewstream`` command: thin wrappers that parse, build and run.

    sewstream transcribe FILE...   offline or --stream, txt/json/srt/vtt
    sewstream listen               live captions from the microphone
    sewstream devices              input devices
    sewstream info PATH            what a checkpoint holds
    sewstream eval DIR             WER/CER on audio + transcripts.txt
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from sewstream import __version__
from sewstream.runtime import add_model_args as _add_model_args
from sewstream.runtime import load_recognizer

# Errors users cause (bad paths, bad config, no microphone): one line, no traceback.
EXIT_USAGE = 2


def _user_errors() -> tuple[type[BaseException], ...]:
    from sewstream.audio.devices import MicrophoneError
    from sewstream.audio.file_source import AudioFileError
    from sewstream.config import ConfigError
    from sewstream.defaults import NoModelError
    from sewstream.model import ConfigError as ModelConfigError
    from sewstream.model import ModelLoadError
    from sewstream.text.ngram import LanguageModelError
    return (MicrophoneError, AudioFileError, ConfigError, NoModelError, ModelConfigError, ModelLoadError,
            LanguageModelError, FileNotFoundError)


# ------------------------------------------------------------------- commands
def cmd_info(args) -> int:
    from sewstream.defaults import resolve_model
    from sewstream.model import describe_checkpoint

    path = resolve_model(args.path)
    info = describe_checkpoint(path)
    lm = Path(path) / "lm.arpa.gz"
    if lm.is_file():  # used by default for finals and offline text (decoding.lm: auto)
        from sewstream.text.ngram import NgramLM

        model = NgramLM.load(lm)
        info["language model"] = (f"{lm.name}: {model.order}-gram, {len(model.words):,} words "
                                  f"({lm.stat().st_size / 2**20:.1f} MB)")
    width = max(map(len, info))
    for key, value in info.items():
        if key == "parameters":
            value = f"{value:,} ({value / 1e6:.1f} M)"
        print(f"{key:<{width}}  {value}")
    return 0


def cmd_devices(args) -> int:
    from sewstream.audio.devices import input_unavailable_reason, list_input_devices

    devices = list_input_devices()
    if not devices:
        print(f"no input devices: {input_unavailable_reason() or 'none found'}", file=sys.stderr)
        return 1
    for d in devices:
        mark = "*" if d["is_default"] else " "
        print(f"{mark} {d['index']:>3}  {d['name']}  ({d['channels']} ch, {d['default_samplerate']:.0f} Hz, "
              f"{d['hostapi']})")
    return 0


def _progress(total: float, label: str, enabled: bool) -> tuple[Callable[[float], None] | None, Callable[[], None]]:
    """A tqdm bar in seconds of audio (stderr), only for long inputs."""
    if not enabled or total < 30:
        return None, lambda: None
    from sewstream.progress import progress_bar

    bar = progress_bar(total=round(total, 1), unit="s", desc=label, leave=False,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s audio [{elapsed}<{remaining}]")

    def update(seconds: float) -> None:
        bar.update(round(seconds, 1) - bar.n)

    return update, bar.close


def cmd_transcribe(args) -> int:
    from sewstream.audio.file_source import read_audio_file
    from sewstream.formats import render
    from sewstream.stream.transcribe import transcribe_offline, transcribe_streaming

    for name in args.files:  # fail before loading the model if a file is missing
        if Path(name).is_dir():
            raise FileNotFoundError(f"{name} is a directory: pass its audio files (e.g. {name}/*.wav); "
                                    "`sewstream eval` scores a directory with transcripts.txt")
        if not Path(name).is_file():
            raise FileNotFoundError(f"audio file not found: {name}")
    config, rec = load_recognizer(args)
    try:
        decoder = rec.rescorer.decoder if rec.rescorer else None  # --lm: offline output uses it too
        for name in args.files:
            audio, duration = read_audio_file(name)
            if rec.geometry.frames_in(len(audio)) == 0:  # an empty transcript, and why
                print(f"note: {name} holds {1000 * duration:.0f} ms of audio, less than one "
                      f"{1000 * rec.geometry.field / rec.geometry.sample_rate:.0f} ms model frame", file=sys.stderr)
            update, done = _progress(duration, Path(name).name, not args.quiet and sys.stderr.isatty())
            if args.stream or args.realtime:
                result = transcribe_streaming(rec, audio, settings=config.stream, realtime=args.realtime,
                                              progress=update)
            else:
                result = transcribe_offline(rec, audio, endpoint=config.stream.endpoint, progress=update,
                                            decoder=decoder)
            done()
            text = render(result, args.format)
            if args.output:
                out = Path(args.output) / (Path(name).stem + "." + args.format)
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(text)
                print(f"{name} -> {out}", file=sys.stderr)
            else:
                if len(args.files) > 1 and args.format == "txt":
                    sys.stdout.write(f"{name}: ")
                sys.stdout.write(text)
                sys.stdout.flush()
    finally:
        rec.close()
    return 0


def cmd_listen(args) -> int:
    from dataclasses import replace

    from sewstream.audio.mic import MicrophoneSource
    from sewstream.keywords import keyword_listeners, parse_keywords
    from sewstream.stream.pump import Pump

    if args.detector and args.keywords is None:
        from sewstream.config import ConfigError
        raise ConfigError("--detector applies to --keywords phrases; give --keywords too")
    mic = MicrophoneSource(args.mic)  # fails fast, with a clear message, when there is no microphone
    config, rec = load_recognizer(args)
    tty = sys.stdout.isatty()

    def show(event) -> None:
        if event.type == "partial" and tty:
            sys.stdout.write("\r\033[K" + event.text[-(120):])
        elif event.type == "final":
            sys.stdout.write(("\r\033[K" if tty else "") + event.text + "\n")
        elif event.type == "keyword":
            sys.stdout.write(("\r\033[K" if tty else "") + f"[keyword] {event.label} ({event.score:.2f})\n")
        sys.stdout.flush()

    try:
        keywords = config.section("keywords")  # --keywords replaces its default list, keeping its thresholds
        specs = keywords if args.keywords is None else parse_keywords(args.keywords)
        if args.keywords is not None and args.detector:
            specs = [replace(s, detector=args.detector) for s in specs]
        listeners = keyword_listeners(rec, specs, stream="microphone", settings=keywords)
        stream = rec.stream("microphone", config.stream, on_event=show, **listeners)
        pump = Pump(mic.ring, stream)
        print(f"listening on {mic.device['name']!r} (Ctrl-C to stop)", file=sys.stderr)
        try:
            mic.start()
            pump.start()
            while pump.thread.is_alive():
                pump.join(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            mic.stop()
            pump.join(2.0)
            stream.wait(10.0)
            if tty:
                sys.stdout.write("\n")
    finally:
        rec.close()
    return 0


# ----------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sewstream", description="Streaming speech recognition with SEW / SEW-D.")
    parser.add_argument("--version", action="version", version=f"sewstream {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("transcribe", help="transcribe audio files")
    p.add_argument("files", nargs="+", metavar="FILE", help="wav/flac/ogg, any rate and channel count")
    _add_model_args(p)
    p.add_argument("--stream", action="store_true", help="use the streaming engine instead of offline decoding")
    p.add_argument("--realtime", action="store_true", help="with --stream: pace the audio like a live source")
    p.add_argument("--format", choices=("txt", "json", "srt", "vtt"), default="txt")
    p.add_argument("--output", metavar="DIR", help="write FILE.<format> into DIR instead of stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_transcribe)

    p = sub.add_parser("listen", help="live captions from the microphone")
    _add_model_args(p)
    p.add_argument("--mic", metavar="DEVICE", help="input device index or name (see `sewstream devices`)")
    p.add_argument("--keywords", metavar="PHRASES",
                   help="print keyword triggers for these phrases, e.g. 'yes,no=0.7,hey sew' (phrase[=threshold])")
    p.add_argument("--detector", choices=("ctc", "classifier"),
                   help="detector for the --keywords phrases (default ctc; classifier: keywords.classifier.model, "
                        "else the embedded yes/no/down/stop/go classifier)")
    p.set_defaults(func=cmd_listen)

    p = sub.add_parser("devices", help="list audio input devices")
    p.set_defaults(func=cmd_devices)

    p = sub.add_parser("info", help="describe a checkpoint")
    p.add_argument("path", nargs="?", help="checkpoint directory or hub id (default: the embedded model)")
    p.set_defaults(func=cmd_info)

    # Subcommands owned by the packages above the stream: each module's register(sub, common)
    # adds its parsers (common adds --model/--config/--set/--device).
    for module in ("sewstream.server.commands", "sewstream.keywords.commands", "sewstream.evaluation"):
        try:
            registrar = __import__(module, fromlist=["register"]).register
        except ModuleNotFoundError as exc:
            if not module.startswith(exc.name or "?"):  # a missing optional package, not a broken import
                raise
            continue
        registrar(sub, _add_model_args)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except _user_errors() as exc:
        print(f"sewstream: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
