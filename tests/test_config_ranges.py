"""Numbers out of range and bytes that are not UTF-8: config errors name file:line and the fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from console_tui.core import config
from console_tui.core.errors import EXIT_USAGE, ConfigError


def error_for(tmp_path: Path, text: str | bytes) -> ConfigError:
    path = tmp_path / "config.toml"
    if isinstance(text, str):
        text = text.encode()
    path.write_bytes(text)
    with pytest.raises(ConfigError) as info:
        config.load(path)
    return info.value


@pytest.mark.parametrize(
    ("key", "value", "fix"),
    [
        ("scrollback_lines", "99999999999999999999", "from 0 to 1000000"),
        ("scrollback_lines", "-1", "from 0 to 1000000"),
        ("paste_limit", "1_000_000_000_000", "from 0 to"),
        ("idle_timeout", "99999999999", "from 0 to"),
        ("transcript_max_bytes", "10", "from 4096 to"),
        ("transcript_files", "0", "from 1 to 1000"),
    ],
)
def test_numbers_out_of_range_name_the_line_and_the_range(
    tmp_path: Path, key: str, value: str, fix: str
) -> None:
    err = error_for(tmp_path, f'[settings]\ntheme = "console-dark"\n{key} = {value}\n')
    assert err.where.endswith("config.toml:3")
    assert f"settings.{key}" in err.what and "out of range" in err.what
    assert fix in err.fix


@pytest.mark.parametrize("baud", ["0", "99999999999999999999999"])
def test_baud_out_of_range(tmp_path: Path, baud: str) -> None:
    err = error_for(tmp_path, f'[[target]]\nname = "a"\nconsole = "tcp://h:1"\nbaud = {baud}\n')
    assert err.where.endswith(":4") and "target.baud" in err.what and "115200" not in err.what
    assert "from 50 to 4000000" in err.fix


def test_a_number_too_long_to_read_names_its_line(tmp_path: Path) -> None:
    err = error_for(tmp_path, f"[settings]\n\nscrollback_lines = {'9' * 5000}\n")
    assert err.where.endswith(":3") and "too long" in err.what and err.fix


def test_a_config_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    text = b'[[target]]\nname = "a"\ndescription = "caf\xe9"\nconsole = "tcp://h:1"\n'
    err = error_for(tmp_path, text)
    assert err.where.endswith("config.toml:3")
    assert "0xe9" in err.what and "column 19" in err.what
    assert "UTF-8" in err.fix


def test_the_cli_says_file_line_and_exits_2_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        "[settings]\nscrollback_lines = 99999999999999999999\n\n"
        f'[[target]]\nname = "vm"\nconsole = "unix://{tmp_path}/none.sock"\n'
    )
    done = subprocess.run(
        [sys.executable, "-m", "console_tui", "--config", str(path), "send", "vm", "--text", "x"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == EXIT_USAGE, done.stderr
    assert f"{path}:2" in done.stderr and "out of range" in done.stderr
    assert "Traceback" not in done.stderr
