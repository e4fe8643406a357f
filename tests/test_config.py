"""Config loading and validation: every error names file:line and says how to fix it."""

from __future__ import annotations

from pathlib import Path

import pytest

from console_tui.core import config
from console_tui.core.errors import ConfigError

GOOD = """\
[settings]
theme = "console-light"
paste_limit = 1024

[[target]]
name = "web-01"
group = "prod"
console = "telnet://10.0.0.5:7001"
control = "qmp:///run/qemu/web-01.qmp"

[[target]]
name = "win-01"
console = "unix:///run/win.sock?telnet=1"
os = "windows"

[[user]]
name = "alice"
role = "operator"
keys = ["ssh-ed25519 AAAA alice@laptop"]
groups = ["prod"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def error_for(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        config.load(write(tmp_path, text))
    return info.value


def test_good_config_loads(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path, GOOD))
    assert cfg.settings.theme == "console-light"
    assert cfg.settings.paste_limit == 1024
    assert cfg.settings.scrollback_lines == 10000
    assert [t.name for t in cfg.targets] == ["web-01", "win-01"]
    web, win = cfg.targets
    assert (web.group, web.control, web.keys) == ("prod", "qmp:///run/qemu/web-01.qmp", "xterm")
    assert win.keys == "vt100+", "a windows target defaults to Microsoft's VT100+ keys"
    assert cfg.users[0].groups == ("prod",)
    assert cfg.target("win-01") is win


def test_location_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = write(tmp_path, GOOD)
    assert config.locate(None) == (config.paths.config_dir() / "config.toml", False)
    monkeypatch.setenv("CONSOLE_TUI_CONFIG", str(env_file))
    assert config.locate(None) == (env_file, True)
    assert config.locate("/x/y.toml") == (Path("/x/y.toml"), True)


def test_missing_default_is_empty_but_named_file_must_exist(tmp_path: Path) -> None:
    assert config.load(None).targets == ()
    with pytest.raises(ConfigError) as info:
        config.load(tmp_path / "nope.toml")
    assert "does not exist" in str(info.value) and "nope.toml" in str(info.value)


def test_broken_toml_names_the_line(tmp_path: Path) -> None:
    err = error_for(tmp_path, '[[target]]\nname = "a"\nconsole = unix:///x\n')
    assert err.where.endswith("config.toml:3")
    assert "not valid TOML" in err.what
    assert err.fix


def test_unknown_key_suggests_the_right_one(tmp_path: Path) -> None:
    err = error_for(tmp_path, '[[target]]\nname = "a"\nconsole = "tcp://h:1"\ngroop = "x"\n')
    assert err.where.endswith(":4")
    assert "'groop'" in err.what and "did you mean 'group'" in err.what


def test_unknown_settings_key(tmp_path: Path) -> None:
    err = error_for(tmp_path, '[settings]\ntheme = "x"\nscrollback = 5\n')
    assert err.where.endswith(":3") and "scrollback_lines" in err.what


def test_duplicate_names(tmp_path: Path) -> None:
    text = '[[target]]\nname = "a"\nconsole = "tcp://h:1"\n\n[[target]]\nname = "a"\nconsole = "tcp://h:2"\n'
    err = error_for(tmp_path, text)
    assert err.where.endswith(":6") and "duplicate" in err.what and ":2" in err.what


@pytest.mark.parametrize("name", ["../etc/passwd", "a/b", "..", ".", "-rf", "", "a b", "x" * 65])
def test_bad_names_with_path_tricks(tmp_path: Path, name: str) -> None:
    err = error_for(tmp_path, f'[[target]]\nname = "{name}"\nconsole = "tcp://h:1"\n')
    assert "bad target name" in err.what and err.where.endswith(":2")
    assert "letters, digits" in err.fix


def test_unknown_scheme(tmp_path: Path) -> None:
    err = error_for(tmp_path, '[[target]]\nname = "a"\nconsole = "gopher://h:1"\n')
    assert err.where.endswith(":3") and "unknown scheme 'gopher'" in err.what
    assert "telnet://" in err.fix


@pytest.mark.parametrize(
    ("uri", "words"),
    [
        ("unix://run/x.sock", "three slashes"),
        ("telnet://host", "host:port"),
        ("tcp://h:99999", "port"),
        ("/dev/ttyS0", "not a URI"),
    ],
)
def test_malformed_uris(tmp_path: Path, uri: str, words: str) -> None:
    err = error_for(tmp_path, f'[[target]]\nname = "a"\nconsole = "{uri}"\n')
    assert words in str(err)


def test_missing_required_field(tmp_path: Path) -> None:
    err = error_for(tmp_path, '[settings]\n\n[[target]]\nname = "a"\n')
    assert err.where.endswith(":3") and "no console" in err.what


def test_wrong_types_and_choices(tmp_path: Path) -> None:
    err = error_for(tmp_path, '[settings]\nscrollback_lines = "many"\n')
    assert "whole number" in err.what and err.where.endswith(":2")
    err = error_for(tmp_path, '[[target]]\nname = "a"\nconsole = "tcp://h:1"\nos = "windoze"\n')
    assert "did you mean 'windows'" in err.what and err.where.endswith(":4")
    err = error_for(tmp_path, '[[user]]\nname = "bob"\nrole = "root"\n')
    assert "viewer, operator, admin" in err.what


def test_bad_control_uri(tmp_path: Path) -> None:
    err = error_for(
        tmp_path, '[[target]]\nname = "a"\nconsole = "tcp://h:1"\ncontrol = "qmp://relative"\n'
    )
    assert err.where.endswith(":4") and "qmp" in str(err)


def test_unknown_target_suggests(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path, GOOD))
    with pytest.raises(ConfigError) as info:
        cfg.target("web-1")
    assert "did you mean 'web-01'" in str(info.value)
