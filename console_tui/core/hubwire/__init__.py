"""The Hub served over a local unix socket, so every SSH channel's app process shares one Hub.

framing.py   JSON lines and errors on the wire
ops.py       every Hub call the wire carries, declared once (the client's methods, the service's table)
service.py   `HubService`: the server side, run next to the Hub
client.py    `RemoteHub`: the Hub API in an app process or a local command
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from console_tui.core.hubwire.client import RemoteHub, RemoteViewer
from console_tui.core.hubwire.service import HubService, Principal, running_hubs

__all__ = ["HubService", "Principal", "RemoteHub", "RemoteViewer", "running_hubs"]

if TYPE_CHECKING:
    from console_tui.core.api import HubAPI
    from console_tui.core.hub import Hub

    def _both_are_the_hub_api(local: Hub, remote: RemoteHub) -> tuple[HubAPI, HubAPI]:
        """mypy checks here that `Hub` and `RemoteHub` each satisfy `HubAPI`."""
        return local, remote
