"""References to secret config keys: the config names a key, the value lives only in Pulumi secrets."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

SecretKey = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$",
        description="Name of a config key in this project's namespace set with `pulumi config set --secret`.",
    ),
]
"""The name of a config key that must hold a Pulumi secret (never a plaintext value)."""
