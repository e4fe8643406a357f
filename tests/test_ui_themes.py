"""Themes: the bundled files load, a bad file falls back with a notice, high contrast is 7:1."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.color import Color

from console_tui.core import config as config_mod
from console_tui.ui.app import ConsoleApp
from console_tui.ui.themes import BUNDLED_THEMES, contrast_ratio, load_theme, load_themes

BUNDLED = ("console-dark", "console-light", "high-contrast")


def test_bundled_themes_load() -> None:
    themes, problems = load_themes([BUNDLED_THEMES])
    assert problems == []
    assert set(BUNDLED) <= {t.name for t in themes}


def test_high_contrast_reaches_7_to_1() -> None:
    """Every text colour the theme defines against every background it defines."""
    theme = load_theme(BUNDLED_THEMES / "high-contrast.toml")
    texts = [theme.foreground, theme.primary, theme.secondary, theme.accent]
    texts += [theme.warning, theme.error, theme.success]
    backgrounds = [theme.background, theme.surface, theme.panel]
    for text in texts:
        for background in backgrounds:
            assert text and background
            ratio = contrast_ratio(text, background)
            assert ratio >= 7.0, f"{text} on {background}: {ratio:.2f}"
    variables = theme.variables
    pairs = [
        ("footer-key-foreground", "footer-background"),
        ("footer-description-foreground", "footer-background"),
        ("block-cursor-foreground", "block-cursor-background"),
    ]
    for fg, bg in pairs:
        assert contrast_ratio(variables[fg], variables[bg]) >= 7.0, (fg, bg)
    # A text field's selected text is its foreground over the selection colour.
    selection = Color.parse(theme.background).blend(
        Color.parse(variables["input-selection-background"]).with_alpha(1.0),
        Color.parse(variables["input-selection-background"]).a,
    )
    assert contrast_ratio(theme.foreground, selection.hex) >= 7.0, selection.hex
    # Every theme colour and variable is either checked above or is not text on a background.
    checked = {"foreground", "primary", "secondary", "accent", "warning", "error", "success"}
    checked |= {"background", "surface", "panel"}
    for name in variables:
        assert name in {fg for pair in pairs for fg in pair} | {
            "input-selection-background",
            "border",
            "border-blurred",
        }, f"{name}: add it to the contrast check"


def test_contrast_ratio_extremes() -> None:
    assert contrast_ratio("#000000", "#FFFFFF") == pytest.approx(21.0)
    assert contrast_ratio("#777777", "#777777") == pytest.approx(1.0)


@pytest.mark.parametrize(
    "text",
    [
        'name = "broken"\nprimary = "not a colour"\n',
        "this is [not toml",
        'name = "x"\nwat = "#fff"\n',
    ],
)
async def test_invalid_theme_file_falls_back_with_a_notice(
    private_dirs: Path, tmp_path: Path, text: str
) -> None:
    folder = private_dirs / "config" / "console-tui" / "themes"
    folder.mkdir(parents=True)
    (folder / "broken.toml").write_text(text)
    config = config_mod.parse('[settings]\ntheme = "broken"\n')
    app = ConsoleApp(config, blink=False, probe=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.theme == "console-dark"
        messages = [n.message for n in app._notifications]
        assert any("broken.toml" in m for m in messages), messages


@pytest.mark.parametrize("name", BUNDLED)
async def test_theme_option_wins_over_settings(name: str) -> None:
    config = config_mod.parse('[settings]\ntheme = "console-light"\n')
    app = ConsoleApp(config, theme=name, blink=False, probe=False)
    async with app.run_test(size=(100, 30)):
        assert app.theme == name


async def test_no_color_is_respected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = ConsoleApp(config_mod.parse(""), blink=False, probe=False)
    async with app.run_test(size=(100, 30)):
        assert app.no_color
