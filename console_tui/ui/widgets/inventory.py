"""The inventory: every target, grouped by source and group, with its backing and live state.

Discovery looks again every few seconds and on demand (the palette's "Rescan for VMs and ports");
the look runs in the Hub's thread, so a frame never waits for it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Label, Tree

from console_tui.core.api import HubAPI
from console_tui.core.config import Target
from console_tui.core.discovery import SCAN_INTERVAL
from console_tui.core.errors import ConsoleError
from console_tui.core.inventory import source_rank
from console_tui.ui.messages import Announce, OpenTarget

POWERED_OFF = ("off", "shutdown", "shutoff", "poweroff", "powered off")
STATE_WORDS = {"closed": "not open", "reachable": "reachable"}
SOURCE_LABELS = {
    "config": "configured",
    "qemu": "QEMU, running here",
    "folder": "QEMU socket folders",
    "serial": "serial ports here",
    "remote": "other console-tui servers",
    "inbound": "VMs that dialled in",
}


def state_words(state: str, power: str = "") -> str:
    """A target's live state in words: connected, reconnecting, unreachable, powered off..."""
    if power.lower() in POWERED_OFF:
        return "powered off"
    return STATE_WORDS.get(state, state)


FOLLOW_SECONDS = 2.0
"""How often the inventory takes open targets' states and alerts from the Hub."""


class Inventory(Vertical):
    """A filter field over a tree of targets; Enter opens the highlighted target."""

    DEFAULT_CSS = """
    Inventory {
        width: 38;
        &.-narrow { width: 30; }
        border-right: vkey $panel;
        Input { margin: 0; }
        #targets-label { padding: 0 1; text-style: bold; }
        Tree { height: 1fr; background: $surface; }
    }
    """
    BINDINGS = [
        Binding("slash", "filter", "Filter", id="inventory.filter", show=False),
    ]

    class Probed(Message):
        """A probe of one target finished (posted by the probe worker)."""

        def __init__(self, name: str, state: str, power: str) -> None:
            super().__init__()
            self.name = name
            self.state = state
            self.power = power

    class Looked(Message):
        """Discovery looked again (posted by the rescan worker); `announce` when asked for."""

        def __init__(self, announce: bool) -> None:
            super().__init__()
            self.announce = announce

    def __init__(self, hub: HubAPI, *, probe: bool = True, id: str | None = None) -> None:
        super().__init__(id=id)
        self.hub = hub
        self.probe = probe
        self.filter_text = ""
        first = "checking" if probe else "not open"
        self.states: dict[str, str] = {t.name: first for t in hub.targets()}
        self._powers: dict[str, str] = {}
        self._alerts_seen: dict[str, tuple[str, str]] = {}
        self._shown: tuple[Target, ...] = ()

    def compose(self) -> ComposeResult:
        field = Input(placeholder="Filter targets", id="filter")
        field.border_title = "Filter (/)"
        yield field
        yield Label("Targets (Enter opens)", id="targets-label")
        tree: Tree[str] = Tree("targets", id="targets")
        tree.show_root = False
        tree.guide_depth = 2
        yield tree

    @property
    def target_tree(self) -> Tree[str]:
        """The tree of targets (`tree` would shadow DOMNode.tree, the widget tree)."""
        return self.query_one("#targets", Tree)

    def on_mount(self) -> None:
        self.target_tree.border_title = "Targets"
        self.rebuild()
        self.call_after_refresh(self.select_first)
        self.set_interval(FOLLOW_SECONDS, self.follow_hub)
        if self.probe:
            self._probe_all(self.hub.targets())
        self.rescan()
        self.set_interval(SCAN_INTERVAL, self.rescan)

    def rescan(self, announce: bool = False) -> None:
        """Look again for targets found without config; with announce, say what changed."""
        self._rescan(announce)

    @work(group="rescan", exit_on_error=False)
    async def _rescan(self, announce: bool) -> None:
        try:
            await self.hub.refresh_targets(max_age=0.0 if announce else SCAN_INTERVAL / 2)
        except ConsoleError as exc:
            if announce:
                self.post_message(Announce(f"rescan failed: {exc}", bell=True))
            return
        self.post_message(self.Looked(announce))

    @on(Looked)
    def _looked(self, message: Looked) -> None:
        """Show targets that came, drop those that went, and probe the new ones."""
        message.stop()
        targets = self.hub.targets()
        names = {t.name for t in targets}
        gone = [name for name in self.states if name not in names]
        new = [t for t in targets if t.name not in self.states]
        for name in gone:
            del self.states[name]
            self._powers.pop(name, None)
        for target in new:
            self.states[target.name] = "checking" if self.probe else "not open"
        if targets != self._shown:
            self.rebuild()
        if new and self.probe:
            self._probe_all(new)
        if message.announce:
            found = sum(t.source not in ("config", "remote") for t in targets)
            self.post_message(
                Announce(f"rescan: {len(new)} new, {len(gone)} gone; {found} found without config")
            )

    @work(group="probe", exit_on_error=False)
    async def _probe_all(self, targets: tuple[Target, ...] | list[Target]) -> None:
        async def one(target: Target) -> None:
            try:
                status = await self.hub.probe(target.name)
            except Exception as exc:
                self.post_message(self.Probed(target.name, "unreachable", str(exc)[:0]))
                return
            self.post_message(self.Probed(target.name, status.state, status.power))

        await asyncio.gather(*(one(t) for t in targets))

    @on(Probed)
    def _probed(self, message: Probed) -> None:
        message.stop()
        if self.states.get(message.name) in ("checking", "not open", "reachable", "unreachable"):
            self.set_state(message.name, message.state, message.power)

    def set_state(self, name: str, state: str, power: str = "") -> None:
        """Show a target's new state; the tree redraws only when the words change."""
        if power:
            self._powers[name] = power
        words = state_words(state, self._powers.get(name, ""))
        if self.states.get(name) != words:
            self.states[name] = words
            self._relabel(name)

    def refresh_status(self, name: str) -> None:
        """Take a target's state from the Hub (after a session event)."""
        if name not in self.states:
            return
        status = self.hub.status(name)
        self.set_state(name, f"ALERT {status.alert}" if status.alert else status.state)

    def follow_hub(self) -> None:
        """Take every open target's state and alert from the Hub, announcing a new alert: the
        Hub holds lines nobody here has open (under `serve`), so their news must show too."""
        for target in self.hub.targets():
            status = self.hub.status(target.name)
            if status.state == "closed" and not status.alert:
                continue
            self.refresh_status(target.name)
            seen = (status.alert.split(" ", 1)[0], status.alert_line)
            if status.alert and self._alerts_seen.get(target.name) != seen:
                self._alerts_seen[target.name] = seen
                self.post_message(
                    Announce(f"{target.name}: ALERT {status.alert}: {status.alert_line}", bell=True)
                )

    def matches(self, target: Target) -> bool:
        needle = self.filter_text.lower()
        if not needle:
            return True
        status = self.states.get(target.name, "")
        haystack = f"{target.name} {target.group} {target.source} {target.console} {status}"
        return all(word in haystack.lower() for word in needle.split())

    def label(self, target: Target) -> Text:
        backing = target.console.split(":", 1)[0]
        text = Text(target.name, style="bold")
        text.append(f"  {backing}  ", style="dim")
        text.append(
            self.states.get(target.name, ""),
            style=_state_style(self.states.get(target.name, "")),
        )
        return text

    def rebuild(self) -> None:
        """Lay the tree out again: source, then group, then targets that match the filter."""
        tree = self.target_tree
        cursor = tree.cursor_node.data if tree.cursor_node is not None else None
        tree.clear()
        self._shown = self.hub.targets()
        targets = [t for t in self._shown if self.matches(t)]
        sources = sorted({t.source for t in targets}, key=source_rank)
        for source in sources:
            parent = tree.root
            if len(sources) > 1 or source != "config":
                label = SOURCE_LABELS.get(source, source)
                parent = tree.root.add(Text(label, style="italic"), expand=True)
            groups = sorted({t.group for t in targets if t.source == source})
            for group in groups:
                node = parent.add(Text(group, style="bold"), expand=True)
                for target in targets:
                    if target.source == source and target.group == group:
                        leaf = node.add_leaf(self.label(target), data=target.name)
                        if target.name == cursor:
                            tree.move_cursor(leaf)
        if not targets:
            tree.root.add_leaf(
                Text("no targets match" if self.hub.targets() else "no targets in the config")
            )

    def _relabel(self, name: str) -> None:
        target = next((t for t in self._shown if t.name == name), None)
        for node in _walk(self.target_tree.root):
            if node.data == name and target is not None:
                node.set_label(self.label(target))

    def select_first(self) -> None:
        for node in _walk(self.target_tree.root):
            if node.data is not None:
                self.target_tree.move_cursor(node)
                return

    @on(Input.Changed, "#filter")
    def _filter(self, event: Input.Changed) -> None:
        event.stop()
        self.filter_text = event.value
        self.rebuild()
        self.call_after_refresh(self.select_first)

    @on(Input.Submitted, "#filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        event.stop()
        self.select_first()
        self.target_tree.focus()

    @on(Tree.NodeSelected)
    def _selected(self, event: Tree.NodeSelected[str]) -> None:
        event.stop()
        if event.node.data is not None:
            self.post_message(OpenTarget(event.node.data))

    def action_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    @property
    def highlighted(self) -> str | None:
        node = self.target_tree.cursor_node
        return node.data if node is not None else None


_STATE_STYLES = {"connected": "bold", "unreachable": "reverse", "powered off": "dim italic"}


def _state_style(words: str) -> str:
    return "bold reverse" if words.startswith("ALERT") else _STATE_STYLES.get(words, "")


def _walk(node: Any) -> Any:
    for child in node.children:
        yield child
        yield from _walk(child)
