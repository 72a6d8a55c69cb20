"""The ``control`` section of the config file: the tablet's OSC control surface.

Example (a tablet at 192.168.1.50 and anyone on the studio's control VLAN)::

    control:
      bind: 0.0.0.0
      port: 9100
      allow: [192.168.1.50, 10.20.0.0/24]
"""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

from pydantic import Field, field_validator

from liverec_edge.settings_base import Section


class ControlSettings(Section):
    """Settings of the tablet control surface (OSC over UDP)."""

    enabled: bool = True
    """False: no control port is opened (the daemon then runs on its config alone)."""
    bind: str = "0.0.0.0"
    """Local address the OSC server listens on (``0.0.0.0``: every IPv4 interface; ``127.0.0.1``: this box only)."""
    port: int = Field(default=9100, ge=0, le=65535)
    """UDP port of the OSC server (0 picks a free port, logged at start; used by tests)."""
    allow: tuple[IPv4Network | IPv6Network, ...] = (IPv4Network("127.0.0.0/8"), IPv6Network("::1/128"))
    """Addresses (or CIDR networks) whose packets are obeyed; everything else is dropped unanswered and counted.
    Add the tablet's address here. Changes apply on SIGHUP reload."""
    armed_at_start: bool = True
    """Whether the daemon may change the desk as soon as it starts (``/liverec/arm 0`` disarms it from the tablet).
    A restart by systemd comes back in this state, so an unattended box keeps protecting the broadcast."""
    max_packet_bytes: int = Field(default=4096, ge=64, le=65507)
    """Larger datagrams are dropped unparsed (control messages are tiny)."""

    @field_validator("bind")
    @classmethod
    def _check_bind(cls, value: str) -> str:
        try:
            return str(ip_address(value.strip()))
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address (use 0.0.0.0 for every interface)") from None

    @field_validator("allow", mode="before")
    @classmethod
    def _parse_networks(cls, value: object) -> object:
        # A bare address ("192.168.1.50") means that one host; strict=False accepts "10.0.0.1/24" as its network.
        if isinstance(value, str):
            value = [value]
        if isinstance(value, (list, tuple)):
            parsed: list[object] = []
            for item in value:
                if isinstance(item, str):
                    try:
                        parsed.append(ip_network(item.strip(), strict=False))
                    except ValueError:
                        raise ValueError(f"{item!r} is not an IP address or CIDR network") from None
                elif isinstance(item, IPv4Network | IPv6Network):  # built in code, already parsed
                    parsed.append(item)
                else:
                    # pydantic would read the number 5 as the address 0.0.0.5: a YAML slip (an unquoted, mangled
                    # address), never what was meant
                    raise ValueError(f"{item!r} is not an IP address or CIDR network (write it as text, e.g. "
                                     "192.168.1.50 or 10.20.0.0/24)")
            return parsed
        return value

    def allows(self, host: str) -> bool:
        """Whether a packet from ``host`` (an IP address string, as asyncio reports it) is obeyed."""
        try:
            address = ip_address(host.split("%", 1)[0])  # drop an IPv6 zone id ("fe80::1%eth0")
        except ValueError:
            return False
        if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # a dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d
        return any(address.version == net.version and address in net for net in self.allow)
