"""The hub wire's framing: JSON lines, and errors carried as their kind and words.

A request `{"id", "op", "args"}` is answered by `{"id", "result"}` or `{"id", "error"}`; the service
also pushes `{"event": viewer_id, "kind", "data", "text"}` and `{"status": [...]}`.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from console_tui.core import errors
from console_tui.core.errors import ConsoleError

LINE_LIMIT = 32 * 1024 * 1024
HANDSHAKE_TIMEOUT = 10.0


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii")) if text else b""


def error_dict(exc: BaseException) -> dict[str, str]:
    """An exception as the wire carries it: its kind and its what, where and fix."""
    if isinstance(exc, ConsoleError):
        return {"type": type(exc).__name__, "what": exc.what, "where": exc.where, "fix": exc.fix}
    if isinstance(exc, ValueError):
        return {"type": "ValueError", "what": str(exc), "where": "", "fix": ""}
    return {"type": "ConsoleError", "what": f"hub error: {exc}", "where": "", "fix": ""}


def raise_error(error: dict[str, Any]) -> None:
    """Raise what `error_dict` described, as the same kind of error where it is one of ours
    (a malformed description still raises a ConsoleError, with what could be read)."""
    what, where, fix = (str(error.get(key) or "") for key in ("what", "where", "fix"))
    kind = error.get("type")
    if kind == "ValueError":
        raise ValueError(what)
    cls = getattr(errors, kind, ConsoleError) if isinstance(kind, str) else ConsoleError
    if not (isinstance(cls, type) and issubclass(cls, ConsoleError)):
        cls = ConsoleError
    raise cls(what, where=where, fix=fix)
