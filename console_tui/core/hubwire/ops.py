"""Every Hub call the wire carries, declared once.

`HubOps` is the table: one `Op` per call, naming the `HubAPI` method it carries. The same declaration
is the client's typed method (`RemoteHub` inherits `HubOps`, so mypy checks it against `HubAPI`)
and the service's dispatch entry, and its argument and result codecs come from the method's type
hints. Adding a call to the Hub API adds one line here.
"""

from __future__ import annotations

import inspect
import math
import types
import typing
from collections.abc import Callable, Coroutine
from dataclasses import asdict
from typing import Any, Concatenate, Generic, ParamSpec, Protocol, TypeVar, overload

from console_tui.core.api import HubAPI, LockHolder, Role, TargetStatus, Viewer
from console_tui.core.hubwire.framing import b64, unb64

P = ParamSpec("P")
R = TypeVar("R")


class WireSide(Protocol):
    """What decoding needs from the side it runs on."""

    def viewer(self, raw: dict[str, Any]) -> Viewer:
        """The service: its own viewer of that id (nothing else claimed is believed).
        The client: a new handle for a viewer the service just attached."""
        ...


class OpCaller(Protocol):
    async def call_op(self, op: Op[..., Any], args: dict[str, Any]) -> Any: ...


class Op(Generic[P, R]):
    """One Hub call on the wire.

    ordered: it acts on the console line, so a connection's ordered calls run one at a time, in
    the order they were sent (keystrokes must not overtake each other).
    quiet: it changes nothing another viewer sees, so no status push follows it.
    lenient: once the connection is gone it does nothing rather than fail (detaching then is moot).
    """

    def __init__(
        self,
        method: Callable[Concatenate[HubAPI, P], Coroutine[Any, Any, R]],
        *,
        ordered: bool = False,
        quiet: bool = False,
        lenient: bool = False,
    ) -> None:
        self.name = method.__name__
        self.ordered = ordered
        self.quiet = quiet
        self.lenient = lenient
        self._signature = inspect.signature(method)
        hints = typing.get_type_hints(method)
        self._params = [p for p in self._signature.parameters if p != "self"]
        self._types = {name: hints[name] for name in self._params}
        self._result = hints["return"]

    def __set_name__(self, owner: type, name: str) -> None:
        if name != self.name:
            raise TypeError(f"Op for {self.name} is declared as {name}")

    @overload
    def __get__(self, obj: None, owner: type) -> Op[P, R]: ...

    @overload
    def __get__(self, obj: OpCaller, owner: type) -> Callable[P, Coroutine[Any, Any, R]]: ...

    def __get__(
        self, obj: OpCaller | None, owner: type
    ) -> Op[P, R] | Callable[P, Coroutine[Any, Any, R]]:
        if obj is None:
            return self
        op = self

        async def call(*args: P.args, **kwargs: P.kwargs) -> R:
            bound = op._signature.bind(None, *args, **kwargs)
            bound.apply_defaults()
            encoded = {name: _encode(op._types[name], bound.arguments[name]) for name in op._params}
            result: R = await obj.call_op(op, encoded)
            return result

        call.__name__ = self.name
        return call

    def decode_args(self, raw: dict[str, Any], side: WireSide) -> dict[str, Any]:
        """The call's keyword arguments from the wire; a missing one takes its default."""
        if not isinstance(raw, dict):
            raise ValueError(f"{self.name}: arguments must be an object")
        out: dict[str, Any] = {}
        for name in self._params:
            if name in raw:
                out[name] = _decode(self._types[name], raw[name], side)
            elif self._signature.parameters[name].default is inspect.Parameter.empty:
                raise ValueError(f"{self.name}: missing argument {name!r}")
        return out

    def encode_result(self, value: Any) -> Any:
        return _encode(self._result, value)

    def decode_result(self, raw: Any, side: WireSide) -> Any:
        return _decode(self._result, raw, side)


def _encode(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    if tp is bytes:
        return b64(value)
    if tp is Viewer:
        return {
            "id": value.id,
            "target": value.target,
            "who": value.who,
            "role": str(value.role),
            "source": value.source,
        }
    if tp in (TargetStatus, LockHolder):
        return asdict(value)
    if tp is Role:
        return str(value)
    if typing.get_origin(tp) is list:
        (item,) = typing.get_args(tp)
        return [_encode(item, v) for v in value]
    if isinstance(tp, types.UnionType):
        (member,) = [t for t in typing.get_args(tp) if t is not type(None)]
        return _encode(member, value)
    return value


def _decode(tp: Any, raw: Any, side: WireSide) -> Any:
    if raw is None and (tp is type(None) or isinstance(tp, types.UnionType)):
        return None
    if tp is bytes:
        return unb64(str(raw))
    if tp is Viewer:
        return side.viewer(raw if isinstance(raw, dict) else {"id": raw})
    if tp is TargetStatus:
        return TargetStatus.from_dict(raw)
    if tp is LockHolder:
        return LockHolder(int(raw["id"]), str(raw["label"]))
    if tp is Role:
        return Role(raw)
    if tp in (str, int, float, bool):
        if not isinstance(raw, (str, int, float, bool)):
            raise ValueError(f"expected {tp.__name__}, got {type(raw).__name__}")
        try:
            value = tp(raw)
        except (ValueError, OverflowError):
            raise ValueError(f"expected {tp.__name__}, got {raw!r:.40}") from None
        if tp is float and not math.isfinite(value):
            raise ValueError(f"expected a finite number, got {raw!r:.40}")
        return value
    if typing.get_origin(tp) is list:
        (item,) = typing.get_args(tp)
        if not isinstance(raw, list):
            raise ValueError(f"expected a list, got {type(raw).__name__}")
        return [_decode(item, v, side) for v in raw]
    if isinstance(tp, types.UnionType):
        (member,) = [t for t in typing.get_args(tp) if t is not type(None)]
        return _decode(member, raw, side)
    return raw


class HubOps:
    """The calls the hub wire carries. `RemoteHub` inherits them as its methods."""

    refresh_targets = Op(HubAPI.refresh_targets)
    probe = Op(HubAPI.probe, quiet=True)
    power_state = Op(HubAPI.power_state, quiet=True)
    attach = Op(HubAPI.attach)
    detach = Op(HubAPI.detach, lenient=True)
    snapshot = Op(HubAPI.snapshot, quiet=True)
    reconnect = Op(HubAPI.reconnect)
    resize = Op(HubAPI.resize, ordered=True)
    sync_size = Op(HubAPI.sync_size, ordered=True)
    request_lock = Op(HubAPI.request_lock)
    hand_over = Op(HubAPI.hand_over)
    take_lock = Op(HubAPI.take_lock)
    write = Op(HubAPI.write, ordered=True, quiet=True)
    send_keys = Op(HubAPI.send_keys, ordered=True)
    send_break = Op(HubAPI.send_break, ordered=True)
    sysrq = Op(HubAPI.sysrq, ordered=True)
    take_console = Op(HubAPI.take_console)
    nmi = Op(HubAPI.nmi)
    set_baud = Op(HubAPI.set_baud, ordered=True)
    reset = Op(HubAPI.reset)
    power = Op(HubAPI.power)
    boot_override = Op(HubAPI.boot_override)
    take_over = Op(HubAPI.take_over)
    boot_menu = Op(HubAPI.boot_menu, ordered=True)
    boot_keys = Op(HubAPI.boot_keys, ordered=True)


OPS: dict[str, Op[..., Any]] = {name: op for name, op in vars(HubOps).items() if isinstance(op, Op)}
"""The table the service dispatches from: name to Op."""
