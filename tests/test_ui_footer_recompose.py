"""The footer is built again only when the keys it shows change (not on every focus change)."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Button
from textual.widgets._footer import FooterKey

from console_tui.ui.widgets.footer import KeysFooter


class Plain(Button):
    BINDINGS = [Binding("f2", "noop", "Plain key")]

    def action_noop(self) -> None:
        """Nothing: the binding is only shown."""


class Other(Button):
    BINDINGS = [Binding("f3", "noop", "Other key")]

    def action_noop(self) -> None:
        """Nothing: the binding is only shown."""


class Keys(App[None]):
    def compose(self) -> ComposeResult:
        yield Plain("one", id="one")
        yield Plain("two", id="two")
        yield Other("three", id="three")
        yield KeysFooter()


def footer_keys(app: Keys) -> list[FooterKey]:
    return list(app.query_one(KeysFooter).query(FooterKey))


async def test_same_keys_keep_the_footer_and_new_keys_rebuild_it() -> None:
    app = Keys()
    async with app.run_test(size=(100, 10)) as pilot:
        app.query_one("#one").focus()
        await pilot.pause()
        first = footer_keys(app)
        assert first[0].description == "Plain key"
        app.query_one("#two").focus()  # the same keys in force: nothing is built again
        await pilot.pause()
        assert footer_keys(app) == first
        app.query_one("#three").focus()  # other keys: built again
        await pilot.pause()
        assert footer_keys(app)[0].description == "Other key"
        await pilot.resize_terminal(60, 10)  # less room: laid out again
        await pilot.pause()
        assert footer_keys(app)
