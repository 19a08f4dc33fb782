"""CLI subcommands of the server package: ``sewstream serve`` and ``sewstream client``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable

from .protocol import ALL_GROUPS


def register(sub, add_model_args: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser("serve", help="run the websocket daemon (native protocol, /vosk, /healthz, /metrics)")
    add_model_args(p)
    p.add_argument("--host", help="interface to bind (overrides server.host; default 127.0.0.1)")
    p.add_argument("--port", type=int, help="TCP port (overrides server.port; 0 = any free port)")
    p.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("client", help="subscribe to a server stream and print it, or send a file as a session")
    p.add_argument("url", help="server URL, e.g. ws://127.0.0.1:8765")
    p.add_argument("--stream", help="daemon stream to subscribe to (default: the server's first)")
    p.add_argument("--events", nargs="+", choices=ALL_GROUPS, default=list(ALL_GROUPS),
                   help="event groups to receive")
    p.add_argument("--resume-from", type=int, metavar="SEQ", help="replay retained finals after this seq")
    p.add_argument("--reconnect", action="store_true", help="reconnect (resuming) when the connection drops")
    p.add_argument("--file", help="send this audio file as a session instead of subscribing")
    p.add_argument("--fast", action="store_true", help="with --file: send as fast as the server takes it")
    p.add_argument("--chunk-ms", type=float, default=100.0, help="with --file: audio per message")
    p.add_argument("--token", help="bearer token (default: $SEWSTREAM_TOKEN)")
    p.add_argument("--json", action="store_true", help="print every server message as a JSON line")
    p.add_argument("--insecure", action="store_true", help="wss://: do not verify the server certificate")
    p.add_argument("--cafile", help="wss://: CA bundle to verify the server certificate with")
    p.set_defaults(func=cmd_client)


def cmd_serve(args) -> int:
    import sewstream.server  # noqa: F401 - registers the server config section before loading config
    from sewstream.runtime import load_recognizer

    from .app import Server

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    if args.log_level != "debug":  # one line per HTTP probe and connection is too chatty for a daemon log
        logging.getLogger("websockets").setLevel(logging.WARNING)
    if args.host:
        args.set.append(f"server.host={args.host}")
    if args.port is not None:
        args.set.append(f"server.port={args.port}")
    config, rec = load_recognizer(args)
    try:
        # The composition point: keyword spotting (its own package) plugs into every stream the
        # server opens, and reloads on SIGHUP or the admin message reload_keywords.
        from sewstream.keywords import KeywordRegistry

        registry = KeywordRegistry.from_config(config, rec, path=args.config)
        registry.install_sighup()

        def reload_keywords() -> int:
            registry.reload()
            return registry.version

        server = Server(rec, config.section("server"), config.stream, stream_hooks=registry.listeners,
                        reload_keywords=reload_keywords, classifier_frames=registry.frame_stats)
        asyncio.run(server.serve_until_signal())
    finally:
        rec.close()
    return 0


def cmd_client(args) -> int:
    from .client import ClientOptions, run

    opts = ClientOptions(url=args.url, stream=args.stream, events=args.events, resume_from=args.resume_from,
                         file=args.file, fast=args.fast, chunk_ms=args.chunk_ms, token=args.token, json=args.json,
                         reconnect=args.reconnect, insecure=args.insecure, cafile=args.cafile)
    try:
        return asyncio.run(run(opts))
    except KeyboardInterrupt:
        return 130
