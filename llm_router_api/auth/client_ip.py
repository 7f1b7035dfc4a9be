"""The client's address: ``X-Forwarded-For`` is believed only when a trusted proxy sent it.

Walking the header from the right, each hop added by a trusted proxy is skipped; the first
address that is not a trusted proxy is the client. Anyone can write the header, so without
``LLM_ROUTER_TRUSTED_PROXIES`` the peer address is the client, whatever the header says.
"""

from __future__ import annotations

import ipaddress
from typing import Iterable


class TrustedProxies:
    def __init__(self, networks: Iterable[str]):
        self.networks = tuple(ipaddress.ip_network(n, strict=False) for n in networks)

    def trusts(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def client_ip(self, peer: str | None, forwarded_for: str | None) -> str | None:
        if not self.networks or not forwarded_for or not peer or not self.trusts(peer):
            return peer
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        for hop in reversed(hops):
            if not self.trusts(hop):
                try:
                    return str(ipaddress.ip_address(hop))
                except ValueError:
                    return peer  # a malformed hop: nothing to the left of it can be believed
        return hops[0] if hops else peer
