"""The websocket daemon: native protocol, vosk-compatible mode, fan-out, HTTP health and metrics.

Importing the package registers the ``server`` config section; the server itself
(``Server``, which pulls in websockets and prometheus-client) is imported on first use.
"""

from .settings import MicrophoneSettings, ServerSettings

__all__ = ["MicrophoneSettings", "Server", "ServerSettings"]


def __getattr__(name: str):
    if name == "Server":
        from .app import Server

        return Server
    raise AttributeError(name)
