"""PII masking for callers who may not see it (viewers): e-mail, card fingerprint, IP."""

from __future__ import annotations

from typing import Any

PII_FIELDS = frozenset({"customer_email", "card_fingerprint", "ip_address"})


def mask_email(email: str) -> str:
    """`jane.doe@example.com` -> `j***@example.com`."""
    if not email:
        return ""
    local, at, domain = email.partition("@")
    return f"{local[:1]}***{at}{domain}" if at else "***"


def mask_card(fingerprint: str) -> str:
    """Only the last four characters stay: `****9f3a`."""
    return f"****{fingerprint[-4:]}" if fingerprint else ""


def mask_ip(address: str) -> str:
    """IPv4 keeps its first two octets (`203.0.x.x`), IPv6 its first two groups."""
    if not address:
        return ""
    if ":" in address:
        groups = address.split(":")
        return ":".join(groups[:2]) + ":x:x:x:x:x:x"
    octets = address.split(".")
    return ".".join(octets[:2] + ["x"] * (len(octets) - 2))


MASKS = {"customer_email": mask_email, "card_fingerprint": mask_card, "ip_address": mask_ip}


def mask_value(field: str, value: Any) -> Any:
    """`value` masked if `field` is a PII field."""
    mask = MASKS.get(field)
    return mask(value) if mask and isinstance(value, str) else value


def mask_tree(value: Any) -> Any:
    """A copy of a JSON-like tree (audit before/after) with every PII field masked."""
    if isinstance(value, dict):
        return {k: mask_tree(mask_value(k, v)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_tree(v) for v in value]
    return value
