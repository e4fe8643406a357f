"""The entry points: the full-screen app, list, attach, send, log, serve and lab.

One module, past 400 lines, so the commands and their options read as one table as in DESIGN.md;
the work behind each command lives in core/.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import IO, TYPE_CHECKING, cast

from console_tui import __version__
from console_tui.core import config as config_mod
from console_tui.core import paths
from console_tui.core.errors import EXIT_OK, ConsoleError, UsageError

if TYPE_CHECKING:
    from console_tui.core.api import HubAPI, Viewer
    from console_tui.core.hubwire import RemoteHub

EPILOG = "Exit codes: 0 ok, 2 usage or config error, 3 target unreachable, 4 not permitted."
RAW_HELP = "the console's bytes as they are (by default, escape sequences are made harmless)"


def build_parser() -> argparse.ArgumentParser:
    config_help = "config file (else $CONSOLE_TUI_CONFIG, else the user config dir)"
    # --config is accepted before or after the command; the command's copy must not reset it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help=config_help)

    parser = argparse.ArgumentParser(
        prog="console-tui",
        description="Serial consoles of VMs and servers: a full-screen app, passthrough, and an SSH server.",
        epilog=EPILOG,
    )
    parser.add_argument("--config", metavar="PATH", default=None, help=config_help)
    parser.add_argument("--version", action="version", version=f"console-tui {__version__}")
    parser.add_argument(
        "--theme", metavar="NAME", help="colour theme (console-dark, console-light, high-contrast)"
    )
    parser.add_argument(
        "--screen-reader", action="store_true", help="quiet, append-only output for screen readers"
    )
    # Set by `serve` for an SSH channel's app process: the Hub's socket, a one-time token's pipe.
    parser.add_argument("--hub-socket", help=argparse.SUPPRESS)
    parser.add_argument("--hub-token-fd", type=int, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "list", parents=[common], help="every target with its backing, control and live state"
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser(
        "attach", parents=[common], help="raw passthrough to a console (escapes: ~? after Enter)"
    )
    p.add_argument("name")
    p.add_argument(
        "--read-only", "-r", action="store_true", help="watch only; never type on the console"
    )

    p = sub.add_parser(
        "send", parents=[common], help="one action on a console, then exit", epilog=EPILOG
    )
    p.add_argument("name")
    action = p.add_mutually_exclusive_group(required=True)
    action.add_argument(
        "--sysrq", metavar="KEYS", help="SysRq key(s): BREAK before each, e.g. h or reisub"
    )
    action.add_argument(
        "--nmi", action="store_true", help="non-maskable interrupt (through the control backing)"
    )
    action.add_argument(
        "--reset", action="store_true", help="hard reset (through the control backing)"
    )
    action.add_argument("--break", dest="brk", action="store_true", help="serial BREAK")
    action.add_argument(
        "--take-console",
        action="store_true",
        help="admin: take a libvirt console another client (virsh console) holds",
    )
    action.add_argument(
        "--key", nargs="+", metavar="KEY", help="named keys: f1-f12 esc tab enter up down del ..."
    )
    action.add_argument("--text", metavar="TEXT", help="text to type (\\r for Enter)")
    action.add_argument(
        "--boot-menu",
        nargs="?",
        const="grub",
        choices=["grub", "firmware"],
        help="reset, then catch and hold the boot menu (grub, or firmware: SeaBIOS/UEFI setup)",
    )
    action.add_argument(
        "--boot-entry", type=int, metavar="N", help="boot entry N of the boot menu that is up"
    )
    action.add_argument(
        "--append-kernel-arg",
        metavar="ARG",
        help="edit the selected entry, append ARG to its kernel line, boot it",
    )
    action.add_argument(
        "--baud", type=int, metavar="RATE", help="set a terminal server port's baud rate (rfc2217)"
    )
    action.add_argument(
        "--power",
        choices=("on", "soft-off", "off", "cycle"),
        help="power action (through the control backing)",
    )
    action.add_argument(
        "--boot-override",
        choices=("setup", "pxe", "disk"),
        help="boot once from this at the next boot: firmware setup, PXE or disk",
    )
    action.add_argument(
        "--take-over",
        action="store_true",
        help="end another client's IPMI SOL session and connect in its place (admin)",
    )
    p.add_argument("--yes", action="store_true", help="do not ask before NMI, reset or power")
    p.add_argument(
        "--wait",
        type=float,
        default=1.5,
        metavar="SECONDS",
        help="print console output for this long after (default 1.5)",
    )
    p.add_argument("--raw", action="store_true", help=RAW_HELP)

    p = sub.add_parser("log", parents=[common], help="the transcript of a target")
    p.add_argument("name")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new output")
    p.add_argument(
        "--since",
        metavar="10m|TIME",
        help="only from then on: a duration back from now (30s, 10m, 2h, 1d) or an ISO time",
    )
    form = p.add_mutually_exclusive_group()
    form.add_argument(
        "--cast",
        action="store_true",
        help="the timed recording as asciicast v2 (asciinema play / asciinema cat)",
    )
    form.add_argument("--raw", action="store_true", help=RAW_HELP)

    p = sub.add_parser(
        "serve",
        parents=[common],
        help="hold and record every console from the start; the SSH server with shared sessions",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument("--listen", default="0.0.0.0:2222", metavar="HOST:PORT")
    where.add_argument(
        "--no-ssh",
        action="store_true",
        help="hold and record the consoles without an SSH listener (local commands join it)",
    )

    p = sub.add_parser("lab", parents=[common], help="the bundled demo guest (Linux under QEMU)")
    p.add_argument("lab_command", choices=["up", "down", "status", "config-path"])
    p.add_argument(
        "--boot",
        choices=["direct", "grub", "uefi"],
        default="direct",
        help="how the guest boots: its kernel directly (fast), SeaBIOS + GRUB, or OVMF + GRUB",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except ConsoleError as exc:
        print(f"console-tui: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as other command-line tools do.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _dispatch(args: argparse.Namespace) -> int:
    command = args.command
    if command == "lab":
        return _lab(args.lab_command, args.boot)
    if command == "log":
        return _log(args)
    if command is None and args.hub_socket:
        return _served_app(args)
    config = config_mod.load(args.config)
    if command == "list":
        return asyncio.run(_list(config, as_json=args.json))
    if command == "attach":
        return asyncio.run(_attach(config, args.name, read_only=args.read_only))
    if command == "send":
        return asyncio.run(_send(config, args))
    if command == "serve":
        from console_tui.server import serve

        return serve(config, listen=None if args.no_ssh else args.listen)
    from console_tui.ui import run_app

    hub = _join_running_server(config, [t.name for t in config.targets])
    return run_app(config, theme=args.theme, screen_reader=args.screen_reader, hub=hub)


def _served_app(args: argparse.Namespace) -> int:
    """The app for one SSH channel of `serve`: the server's Hub, as the user the token names."""
    from console_tui.core.hubwire import RemoteHub
    from console_tui.ui import run_app

    if args.hub_token_fd is None:
        raise UsageError("--hub-socket needs --hub-token-fd", where="argv", fix="serve sets both")
    with os.fdopen(args.hub_token_fd, "rb") as pipe:
        token = pipe.read(4096).decode().strip()
    hub = RemoteHub.dial(args.hub_socket, token)
    return run_app(hub.config, theme=args.theme, screen_reader=args.screen_reader, hub=hub)


def _join_running_server(config: config_mod.Config, names: Sequence[str]) -> RemoteHub | None:
    """The Hub of a `console-tui serve` of this user that serves these targets, else None.

    A console line serves one client, so while a server holds it the way in is through the server.
    """
    from console_tui.core.hubwire import RemoteHub, running_hubs

    for path in running_hubs(paths.runtime_dir()):
        try:
            remote = RemoteHub.dial(path, "", timeout=3)
        except ConsoleError:
            continue
        if all(name in {t.name for t in remote.targets()} for name in names):
            print(f"console-tui: through the running server ({path.stem})", file=sys.stderr)
            return remote
        remote.close_now()
    return None


async def _hub(config: config_mod.Config, names: Sequence[str]) -> HubAPI:
    """A running server's Hub when one serves these targets, else a Hub of our own."""
    from console_tui.core.hub import Hub

    remote = await asyncio.to_thread(_join_running_server, config, names)
    return remote if remote is not None else Hub(config)


# -- list -----------------------------------------------------------------------------------


async def _hub_with(config: config_mod.Config, name: str) -> HubAPI:
    """A Hub that serves `name`: configured, or found by discovery (which looks only when the
    config does not have it). An unknown name is an error that lists the known ones."""
    hub = await _hub(config, [name])
    try:
        if name not in {t.name for t in hub.targets()}:
            await hub.refresh_targets()
        hub.target(name)
    except BaseException:
        await hub.close()
        raise
    return hub


async def _list(config: config_mod.Config, *, as_json: bool) -> int:
    from console_tui.core import remotes
    from console_tui.core.discovery import folder_problems

    hub = await _hub(config, [t.name for t in config.targets])
    try:
        await hub.refresh_targets()
        statuses = await asyncio.gather(*(hub.probe(t.name) for t in hub.targets()))
    finally:
        await hub.close()
    for problem in folder_problems(config.discovery):
        print(f"console-tui: {problem}", file=sys.stderr)
    for entry in config.remotes:
        link = remotes.find(entry.name)
        if link is not None and link.trouble:
            print(f"console-tui: remote {entry.name}: {link.trouble}", file=sys.stderr)
    if as_json:
        print(json.dumps([s.as_dict() for s in statuses], indent=2))
        return EXIT_OK
    if not statuses:
        where = config.path or config_mod.locate(None)[0]
        print(
            f"no targets: add [[target]] entries to {where} (see README: Config); "
            "discovery found no running QEMU VMs, serial ports or socket folders"
        )
        return EXIT_OK
    from console_tui.core.api import status_table

    print(status_table(list(statuses)))
    for s in statuses:
        if s.detail:
            print(f"{s.name}: {s.detail}", file=sys.stderr)
        if s.line:
            print(f"{s.name}: line {s.line}", file=sys.stderr)
    return EXIT_OK


# -- attach ---------------------------------------------------------------------------------


async def _attach(config: config_mod.Config, name: str, *, read_only: bool) -> int:
    from console_tui.core.config import Role
    from console_tui.core.passthrough import Passthrough
    from console_tui.core.terminal_out import TerminalWriter

    hub = await _hub_with(config, name)
    loop = asyncio.get_running_loop()
    stdin = sys.stdin.fileno()
    sys.stdout.flush()
    # The terminal draws while the loop reads on; when it falls behind, output waits upstream.
    out = TerminalWriter(
        sys.stdout.fileno(),
        pause=lambda: passthrough.pause_output(),
        resume=lambda: passthrough.resume_output(),
    )
    write_out = out.write
    try:
        viewer = await hub.attach(
            name,
            who=paths.local_user(),
            role=Role.VIEWER if read_only else Role.ADMIN,
            write=not read_only,
            wait=8,
        )
        passthrough = Passthrough(hub, viewer, write_out, size=_terminal_size)
        with _raw_terminal(stdin):
            writable = hub.can_write(name)
            shown = "" if writable.ok else f" (watch only: {writable.reason})"
            passthrough.say(f"attached to {name}; ~? for help, ~. to detach{shown}")
            inbox: asyncio.Queue[bytes] = asyncio.Queue()

            def readable() -> None:
                try:
                    data = os.read(stdin, 4096)
                except OSError:
                    data = b""
                inbox.put_nowait(data)

            loop.add_reader(stdin, readable)
            for sig in (signal.SIGTERM, signal.SIGHUP):
                loop.add_signal_handler(sig, passthrough.done.set)
            pump = loop.create_task(passthrough.pump_output())
            try:
                while not passthrough.done.is_set():
                    getter = loop.create_task(inbox.get())
                    stop = loop.create_task(passthrough.done.wait())
                    finished, _ = await asyncio.wait(
                        {getter, stop}, return_when=asyncio.FIRST_COMPLETED
                    )
                    stop.cancel()
                    if getter not in finished:
                        getter.cancel()
                        break
                    data = getter.result()
                    if not data:
                        break
                    await passthrough.feed(data)
            finally:
                loop.remove_reader(stdin)
                await _cancelled(pump)
                passthrough.restore_terminal()
                await asyncio.to_thread(out.close)
    finally:
        await asyncio.to_thread(out.close)
        await hub.close()
    return EXIT_OK


def _terminal_size() -> tuple[int, int]:
    """The operator's terminal (columns, rows); 80x24 when it is not a terminal."""
    try:
        size = os.get_terminal_size(sys.stdout.fileno())
    except OSError:
        return 80, 24
    return size.columns, size.lines


async def _cancelled(task: asyncio.Task[None]) -> None:
    """Cancel a task we own and wait until it has finished."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@contextlib.contextmanager
def _raw_terminal(fd: int) -> Iterator[None]:
    """Raw mode for the operator's terminal, restored on every way out."""
    if not os.isatty(fd):
        yield
        return
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


# -- send -----------------------------------------------------------------------------------


async def _send(config: config_mod.Config, args: argparse.Namespace) -> int:
    hub = await _hub_with(config, args.name)
    try:
        _check_send_words(hub.target(args.name), args)
        asks = (
            args.nmi or args.reset or args.boot_menu or args.power in ("off", "soft-off", "cycle")
        )
        if asks and not args.yes and not _confirm(args):
            print("not sent", file=sys.stderr)
            return EXIT_OK
        needs_line = not (args.nmi or args.reset or args.power or args.boot_override)
        needs_line = needs_line and not (args.take_over or args.take_console)
        if needs_line:
            _check_break(hub, args)
        viewer = await hub.attach(
            args.name, who=paths.local_user(), source="cli", wait=8 if needs_line else 0
        )
        pump = asyncio.get_running_loop().create_task(_print_output(viewer, raw=args.raw))
        try:
            said = await _do_send(hub, viewer, args)
            print(f"console-tui: {args.name}: {said}", file=sys.stderr)
            await asyncio.sleep(args.wait)
        finally:
            await _cancelled(pump)
    finally:
        await hub.close()
    return EXIT_OK


def _check_break(hub: HubAPI, args: argparse.Namespace) -> None:
    """Refuse BREAK and SysRq before connecting when the backing cannot carry them."""
    if args.brk or args.sysrq:
        capability = hub.can_sysrq(args.name) if args.sysrq else hub.can_break(args.name)
        if not capability.ok:
            from console_tui.core.errors import NotPermittedError

            what = "SysRq" if args.sysrq else "BREAK"
            raise NotPermittedError(f"cannot send {what}: {capability.reason}", where=args.name)


def _check_send_words(target: config_mod.Target, args: argparse.Namespace) -> None:
    """Refuse unknown SysRq keys and key names before touching the line, saying each once."""
    from console_tui.core import keys

    if args.sysrq and any(k not in keys.SYSRQ_KEYS for k in args.sysrq):
        raise UsageError(
            f"unknown SysRq key in {args.sysrq!r}",
            where="--sysrq",
            fix=f"use keys from: {''.join(sorted(keys.SYSRQ_KEYS))} (h shows the guest's help)",
        )
    if args.baud is not None and args.baud <= 0:
        raise UsageError(f"baud {args.baud} is not a rate", where="--baud", fix="e.g. --baud 9600")
    from console_tui.core import bootmenu

    for flag, action, value in (
        ("--boot-entry", "entry", args.boot_entry),
        ("--append-kernel-arg", "append", args.append_kernel_arg),
    ):
        if value is not None:
            try:
                bootmenu.helper_plan(action, str(value))
            except ValueError as exc:
                raise UsageError(str(exc), where=flag, fix="see console-tui send --help") from None
    for name in args.key or ():
        try:
            keys.encode_key(name, target.keys)
        except ValueError as exc:
            raise UsageError(
                str(exc), where="--key", fix="use one of the key names listed"
            ) from None


async def _do_send(hub: HubAPI, viewer: Viewer, args: argparse.Namespace) -> str:
    if args.sysrq:
        return await hub.sysrq(viewer, args.sysrq)
    if args.take_console:
        await hub.take_console(viewer)
        return "took the console"
    if args.nmi:
        await hub.nmi(viewer)
        return "sent NMI"
    if args.reset:
        await hub.reset(viewer)
        return "sent reset"
    if args.boot_menu:
        return f"{await hub.boot_menu(viewer, args.boot_menu)} is up"
    if args.boot_entry is not None:
        return await hub.boot_keys(viewer, "entry", str(args.boot_entry))
    if args.append_kernel_arg is not None:
        return await hub.boot_keys(viewer, "append", args.append_kernel_arg)
    if args.brk:
        await hub.send_break(viewer)
        return "sent BREAK"
    if args.baud is not None:
        return f"set the line to {await hub.set_baud(viewer, args.baud)}"
    if args.power:
        await hub.power(viewer, args.power)
        return f"sent power {args.power}"
    if args.boot_override:
        await hub.boot_override(viewer, args.boot_override)
        return f"set the next boot to {args.boot_override}"
    if args.take_over:
        await hub.take_over(viewer)
        return "took the console over"
    if args.key:
        await hub.send_keys(viewer, args.key)
        return f"sent {' '.join(args.key)}"
    text = args.text.encode().decode("unicode_escape").encode("utf-8", "surrogateescape")
    await hub.write(viewer, text)
    return f"typed {len(text)} bytes"


def _confirm(args: argparse.Namespace) -> bool:
    what = (
        "NMI"
        if args.nmi
        else "reset"
        if args.reset
        else "reset into the boot menu"
        if args.boot_menu
        else f"power {args.power}"
    )
    if not sys.stdin.isatty():
        raise UsageError(
            f"{what} needs confirmation and there is no terminal to ask",
            where="send",
            fix="add --yes to confirm on the command line",
        )
    answer = input(f"send {what} to {args.name}? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def _console_text(raw: bool) -> Callable[[bytes], bytes]:
    """How console bytes reach the operator's terminal: as text made harmless, or with --raw as is."""
    from console_tui.core.terminal_filter import TerminalFilter

    return bytes if raw else TerminalFilter("text").feed


async def _print_output(viewer: Viewer, *, raw: bool = False) -> None:
    out = sys.stdout.buffer
    clean = _console_text(raw)
    async for event in viewer.events():
        if event.kind == "output":
            out.write(clean(event.data))
            out.flush()


# -- log ------------------------------------------------------------------------------------


def _log(args: argparse.Namespace) -> int:
    from console_tui.core.transcript import follow_transcript, read_transcript, transcript_path

    config_mod.check_name(args.name, "log", "target")
    if args.cast or args.since is not None:
        return _log_recording(args)
    path = transcript_path(args.name)
    if not path.exists():
        raise UsageError(
            f"no transcript for {args.name!r} yet",
            where=str(path),
            fix="open the target once (attach or the app); transcripts start at the first connect",
        )
    out = sys.stdout.buffer
    clean = _console_text(args.raw)
    for chunk in read_transcript(path):
        out.write(clean(chunk))
    out.flush()
    if args.follow:

        async def follow() -> None:
            async for chunk in follow_transcript(path):
                out.write(clean(chunk))
                out.flush()

        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(follow())
    return EXIT_OK


class _CleanedOutput:
    """A byte stream whose writes pass through `clean` first (safe text for the terminal)."""

    def __init__(self, out: IO[bytes], clean: Callable[[bytes], bytes]) -> None:
        self.out = out
        self.clean = clean

    def write(self, data: bytes) -> int:
        self.out.write(self.clean(data))
        return len(data)

    def flush(self) -> None:
        self.out.flush()


def _log_recording(args: argparse.Namespace) -> int:
    """`log --cast` and `log --since`: from the timed recording, which knows when output came."""
    from console_tui.core.recording import RecordedRange, parse_since, recording_path

    since = parse_since(args.since) if args.since is not None else None
    path = recording_path(args.name)
    if not path.exists():
        raise UsageError(
            f"no recording for {args.name!r} yet"
            + (" (--since needs the recording's timing)" if since is not None else ""),
            where=str(path),
            fix="open the target once (attach, the app or serve); recordings start at the first connect",
        )
    out: IO[bytes] = sys.stdout.buffer
    if not (args.cast or args.raw):
        out = cast("IO[bytes]", _CleanedOutput(out, _console_text(False)))
    recorded = RecordedRange(path, out, title=args.name, cast=args.cast, since=since)
    for note in recorded.print_recorded():
        print(f"console-tui: {note}", file=sys.stderr)
    if args.follow:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(recorded.follow())
    return EXIT_OK


# -- lab ------------------------------------------------------------------------------------


def _lab(command: str, boot: str = "direct") -> int:
    from console_tui.lab import Lab, adopt_as_default

    lab = Lab(boot=boot)
    if command == "up":
        info = lab.up()
        print(f"demo guest running (pid {info.pid}, ready in {info.boot_seconds:.1f} s)")
        print(f"config: {info.config_path}")
        print(adopt_as_default(info.config_path))
        print(f"open it:  console-tui --config {info.config_path}")
    elif command == "down":
        lab.down()
        print("demo guest stopped")
    elif command == "config-path":
        print(lab.config_path())
    else:
        status = lab.status()
        if status is None:
            print("demo guest is not running (console-tui lab up starts it)")
            return 3
        print(f"demo guest running (pid {status.pid}, boot: {lab.running_boot()})")
        print(f"console: {status.console_uri}")
        print(f"control: {status.control_uri}")
        print(f"config:  {status.config_path}")
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
