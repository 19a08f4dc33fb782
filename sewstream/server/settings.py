"""The ``server:`` section of the config: network, limits, keepalive, fan-out and daemon streams.

Importing this module registers the section with :mod:`sewstream.config`, so
``load_config`` accepts (and checks) ``server.*`` keys from YAML, the environment
(``SEWSTREAM__SERVER__PORT=9000``) and ``--set server.port=9000``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sewstream.config import ConfigError, register_section


@dataclass
class MicrophoneSettings:
    """One named daemon stream the server runs continuously (``server.microphones[i]``)."""

    name: str = ""                   # stream name clients subscribe to
    device: int | str | None = None  # input device index or name substring; null = default input
    file: str | None = None          # play this audio file in real time instead (demos, tests, no microphone)
    loop: bool = False               # file: start again from the beginning when it ends
    samplerate: int | None = None    # capture rate; null = the device's native rate
    channels: int | None = None      # captured channels (mixed down); null = 1
    ring_seconds: float = 30.0       # capture buffer: how long the model may stall before audio is lost
    required: bool = True            # true: fail start-up if it cannot be opened; false: retry in the background
    retry_s: float = 5.0             # seconds between attempts to (re)open a missing or failed device (0: never)

    def validate(self) -> None:
        if not self.name or not self.name.strip():
            raise ValueError(f"key 'name': {self.name!r} must be a non-empty stream name")
        if self.ring_seconds <= 0:
            raise ValueError(f"key 'ring_seconds': {self.ring_seconds!r} must be > 0")
        if self.retry_s < 0:
            raise ValueError(f"key 'retry_s': {self.retry_s!r} must be >= 0")
        if self.samplerate is not None and self.samplerate <= 0:
            raise ValueError(f"key 'samplerate': {self.samplerate!r} must be > 0")
        if self.channels is not None and self.channels < 1:
            raise ValueError(f"key 'channels': {self.channels!r} must be >= 1")


@dataclass
class ServerSettings:
    host: str = "127.0.0.1"          # interface to bind; 0.0.0.0 exposes the server to the network
    port: int = 8765                 # TCP port for websockets and HTTP (0: any free port)
    token: str | None = None         # shared secret: Authorization: Bearer <token> or ?token=<token>
    token_file: str | None = None    # read the token from this file instead (keeps it out of configs)
    tls_cert: str | None = None      # PEM certificate chain; with tls_key, serve wss:// and https://
    tls_key: str | None = None       # PEM private key
    max_connections: int = 256       # websocket connections of any kind; more are closed with 1013
    max_sessions: int = 16           # concurrent client audio sessions (native + vosk); more get 1013
    max_message_bytes: int = 1 << 20  # larger messages are refused with an error (4x this closes with 1009)
    idle_timeout_s: float = 60.0     # close connections with no subscription that send nothing this long (0: off)
    ping_interval_s: float = 20.0    # keepalive ping after this long without hearing from a client (0: off)
    ping_timeout_s: float = 20.0     # ... and close if no pong and no other sign of life this long after it
    send_queue_size: int = 256       # messages queued per connection; partials are dropped first
    history_size: int = 200          # finals (and keywords) kept per daemon stream for resume_from
    warmup: bool = True              # a dummy forward pass before /readyz turns ready
    drain_timeout_s: float = 10.0    # on SIGTERM: how long to wait for finals to be flushed
    vosk_sample_rate: int = 16000    # vosk mode: rate assumed when a client sends no config
    microphones: list[MicrophoneSettings] = field(default_factory=list)

    def validate(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"key 'server.port': {self.port!r} must be in 0..65535")
        for key in ("max_connections", "max_sessions", "send_queue_size", "history_size"):
            if getattr(self, key) < 1:
                raise ValueError(f"key 'server.{key}': {getattr(self, key)!r} must be >= 1")
        if self.max_message_bytes < 1024:
            raise ValueError(f"key 'server.max_message_bytes': {self.max_message_bytes!r} must be >= 1024")
        for key in ("idle_timeout_s", "ping_interval_s", "ping_timeout_s"):
            if getattr(self, key) < 0:
                raise ValueError(f"key 'server.{key}': {getattr(self, key)!r} must be >= 0 (0: off)")
        if self.drain_timeout_s <= 0:
            raise ValueError(f"key 'server.drain_timeout_s': {self.drain_timeout_s!r} must be > 0")
        if not 8000 <= self.vosk_sample_rate <= 192000:
            raise ValueError(f"key 'server.vosk_sample_rate': {self.vosk_sample_rate!r} must be in 8000..192000")
        if (self.tls_cert is None) != (self.tls_key is None):
            key = "tls_key" if self.tls_key is None else "tls_cert"
            raise ValueError(f"key 'server.{key}': null, but TLS needs both tls_cert and tls_key")
        if self.token is not None and not self.token.strip():
            raise ValueError("key 'server.token': '' is empty; use null to turn authentication off")
        if self.token is not None and self.token_file is not None:
            raise ValueError("key 'server.token_file': set either token or token_file, not both")
        seen: set[str] = set()
        for i, mic in enumerate(self.microphones):
            if mic.name in seen:
                raise ValueError(f"key 'server.microphones[{i}].name': {mic.name!r} is used by another stream")
            seen.add(mic.name)

    # ------------------------------------------------------------------ files
    def resolved_token(self) -> str | None:
        """The token, read from ``token_file`` if that is how it is given."""
        if self.token_file is None:
            return self.token
        try:
            token = Path(self.token_file).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"config key 'server.token_file': {self.token_file!r} cannot be read ({exc})") from None
        if not token:
            raise ConfigError(f"config key 'server.token_file': {self.token_file!r} is empty")
        return token

    def ssl_context(self):
        """An ``ssl.SSLContext`` for TLS, or None; errors name the key."""
        if self.tls_cert is None:
            return None
        import ssl

        for key in ("tls_cert", "tls_key"):
            path = getattr(self, key)
            if not Path(path).is_file():
                raise ConfigError(f"config key 'server.{key}': file {path!r} not found")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.load_cert_chain(self.tls_cert, self.tls_key)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(f"config key 'server.tls_cert': cannot load {self.tls_cert!r} with "
                              f"server.tls_key {self.tls_key!r} ({exc})") from None
        return context


register_section("server", ServerSettings)
