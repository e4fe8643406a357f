"""The Textual app: themes, the Hub, the main screen. The work happens in screens/ and widgets/."""

from __future__ import annotations

from textual import events, on
from textual.app import App
from textual.binding import Binding
from textual.geometry import Region
from textual.notifications import SeverityLevel
from textual.widgets import Input, OptionList, Tabs, Tree

from console_tui.core import paths
from console_tui.core.api import HubAPI
from console_tui.core.config import Config
from console_tui.ui import frames
from console_tui.ui.cell_diff import only_changed_cells
from console_tui.ui.commands import ConsoleCommands
from console_tui.ui.cursor import cursor_shown, focus_offset
from console_tui.ui.frames import idle_gc, key_pending
from console_tui.ui.keynames import key_name
from console_tui.ui.remembered import remember_theme, remembered_theme
from console_tui.ui.screens.main import MainScreen
from console_tui.ui.themes import DEFAULT_THEME, load_themes
from console_tui.ui.widgets.terminal import TerminalView


class ConsoleApp(App[int], inherit_bindings=False):
    """Serial consoles of every target, one keystroke away.

    Bindings are not inherited from App: Ctrl+C and Ctrl+Q belong to the console when it has focus.
    """

    TITLE = "console-tui"
    COMMAND_PALETTE_BINDING = "ctrl+right_square_bracket"
    COMMAND_PALETTE_DISPLAY = "Ctrl+]"
    COMMANDS = App.COMMANDS | {ConsoleCommands}
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", id="app.quit")]
    CSS = """
    /* A screen reader hears what is written: a dialog does not dim (and so rewrite) the screen. */
    ConsoleApp.-screen-reader ModalScreen { background: transparent; }
    """

    def __init__(
        self,
        config: Config,
        *,
        hub: HubAPI | None = None,
        theme: str | None = None,
        screen_reader: bool = False,
        blink: bool = True,
        probe: bool = True,
        who: str | None = None,
    ) -> None:
        frames.install()  # Textual's drawing made quick enough for a flooding console
        screen_reader = screen_reader or config.settings.screen_reader
        driver_class = key_pending.noting_keys(self.get_driver_class())
        if screen_reader:
            driver_class = cursor_shown(only_changed_cells(driver_class))
        super().__init__(driver_class=driver_class)
        self.config = config
        self.screen_reader = screen_reader
        self.blink = blink and not self.screen_reader
        self.probe = probe
        self.who = who or getattr(hub, "who", None) or paths.local_user()
        self._own_hub = hub is None
        if hub is None:
            from console_tui.core.hub import Hub

            hub = Hub(config)
        self.hub: HubAPI = hub
        self._theme_problems: list[str] = []
        themes, problems = load_themes()
        for loaded in themes:
            self.register_theme(loaded)
        self._theme_problems = [str(problem) for problem in problems]
        wanted = theme or remembered_theme(self.who) or config.settings.theme or DEFAULT_THEME
        if wanted not in self.available_themes:
            self._theme_problems.append(
                f"no theme named {wanted!r}; known: {', '.join(t.name for t in themes)}; "
                f"using {DEFAULT_THEME}"
            )
            wanted = DEFAULT_THEME if DEFAULT_THEME in self.available_themes else "textual-dark"
        self.theme = wanted
        if self.screen_reader:
            self.animation_level = "none"
            self.add_class("-screen-reader")
        if config.settings.keymap:
            self.set_keymap(dict(config.settings.keymap))

    def get_key_display(self, binding: Binding) -> str:
        """Keys spelled one way in the footer and in help: `Ctrl+Q`, `F1`, `Shift+PgUp`."""
        if binding.key_display:
            return binding.key_display
        return key_name(binding.key.split(",")[0])

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Inside a console Ctrl+Q goes to the guest, so the footer does not offer Quit there."""
        main = self._main_screen()
        inside = main is not None and isinstance(main.focused, TerminalView)
        return not (action == "quit" and inside)

    collect_when_quiet = False
    """Run full garbage collections while quiet (see frames/idle_gc.py): set for the app's own process,
    not where one process serves many apps."""

    def on_mount(self) -> None:
        if self.collect_when_quiet:
            idle_gc.collect_when_quiet(self)
        self.push_screen(MainScreen(self.hub, who=self.who, screen_reader=self.screen_reader))
        self.call_after_refresh(self._report_theme_problems)
        self.theme_changed_signal.subscribe(
            self, lambda theme: remember_theme(self.who, theme.name)
        )

    def _report_theme_problems(self) -> None:
        for problem in self._theme_problems:
            self.notify(problem, title="Theme", severity="warning", timeout=10)

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """A notice; in screen-reader mode it goes to the announcement line instead of a toast."""
        main = self._main_screen()
        if self.screen_reader and main is not None and main.is_mounted:
            main.announce(
                f"{title}: {message}" if title else message, bell=severity != "information"
            )
            return
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def _main_screen(self) -> MainScreen | None:
        found = [screen for screen in self.screen_stack if isinstance(screen, MainScreen)]
        return found[0] if found else None

    async def on_unmount(self) -> None:
        if self._own_hub:
            await self.hub.close()

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """No blinking cursors in screen-reader mode (and in screenshots)."""
        if not self.blink and isinstance(event.widget, Input):
            event.widget.cursor_blink = False
        self.follow_focus()

    @on(Tree.NodeHighlighted)
    @on(OptionList.OptionHighlighted)
    @on(Tabs.TabActivated)
    def follow_focus(self) -> None:
        """After the focus or the highlighted item moved, move the real cursor there too."""
        if self.screen_reader:
            self.call_after_refresh(self._place_cursor)

    def _place_cursor(self) -> None:
        """Rest the real cursor on the focused control's current item."""
        widget = self.focused
        if widget is None:
            return
        offset = focus_offset(widget)
        if offset is None or offset == self.cursor_position:
            return
        self.cursor_position = offset
        x, y = offset - widget.region.offset
        widget.refresh(Region(x, y, 1, 1))
