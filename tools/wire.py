"""Values as the Kubernetes API server receives them."""

from __future__ import annotations

from typing import Any


def wire_form(value: Any) -> Any:
    """``value`` with every whole float as an int.

    Pulumi (and so the mocks) carries every number as a double: `replicas: 2.0`, `port: 443.0`. The provider
    sends whole numbers as integers, and Kubernetes schemas type those fields `integer` (or int-or-string);
    a field typed `number` accepts an integer too. So this is what the API server holds for every field, and
    what scanners reading the synthesized files (a UID check, say) must see.
    """
    if isinstance(value, dict):
        return {k: wire_form(v) for k, v in value.items()}
    if isinstance(value, list):
        return [wire_form(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
