"""The built package works on its own: installed from its wheel, the app finds the bundled themes.

The wheel is built from the sdist (as `python -m build` does), so both must carry `themes/`. It is
installed with its dependencies into a fresh venv outside the checkout and the app is started there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# pip keeps its cache under the user's cache dir, which the autouse `private_dirs` fixture moves to
# an empty folder; read it here, before any fixture runs, so installs reuse the cache.
_USER_CACHE_HOME = os.environ.get("XDG_CACHE_HOME")

_START_APP = """
import asyncio, json, sys
import console_tui
from console_tui.core import config
from console_tui.ui import themes
from console_tui.ui.app import ConsoleApp

async def main():
    app = ConsoleApp(config.parse(""), theme="high-contrast", blink=False, probe=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        notices = [n.message for n in app._notifications if n.title == "Theme"]
        print(json.dumps({
            "theme": app.theme,
            "notices": notices,
            "package": console_tui.__file__,
            "bundled_themes": str(themes.BUNDLED_THEMES),
        }))

asyncio.run(main())
"""


def _run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _pip_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "XDG_CACHE_HOME")}
    if _USER_CACHE_HOME is not None:
        env["XDG_CACHE_HOME"] = _USER_CACHE_HOME
    return env


def test_installed_wheel_applies_a_bundled_theme(tmp_path: Path) -> None:
    """`--theme high-contrast` from the installed wheel: applied, no notice, nothing from the checkout.

    The build uses the dev venv's hatchling (no build isolation) and the fresh venv is made without
    pip and filled by the dev venv's pip: both save seconds and change nothing in what is tested.
    """
    dist, venv = tmp_path / "dist", tmp_path / "venv"
    _run(sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, ROOT, cwd=tmp_path)
    (wheel,) = dist.glob("*.whl")
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-compile"]
    _run(*pip, wheel, cwd=tmp_path, env=_pip_env())

    # -I: no PYTHONPATH, no user site, and neither the cwd nor the checkout on sys.path.
    report = json.loads(_run(python, "-I", "-c", _START_APP, cwd=tmp_path).splitlines()[-1])

    assert report["notices"] == []
    assert report["theme"] == "high-contrast"
    for key in ("package", "bundled_themes"):
        path = Path(report[key]).resolve()
        assert path.is_relative_to(venv.resolve()), (key, path)
        assert not path.is_relative_to(ROOT), (key, path)
