"""What the Pulumi engine can hand a Python program: its whole stack config in one environment variable.

The Python language host passes the config as JSON in ``PULUMI_CONFIG`` (the SDK reads nothing else),
and Linux refuses to start a process with one environment string over 128 KiB (MAX_ARG_STRLEN, 32
pages): `pulumi preview` and `pulumi up` then fail before the program's first line with "fork/exec
...python: argument list too long" (pulumi/pulumi#8680; the policy pack gets the same variable,
pulumi/pulumi#20402). Found by the bench's 500-model engine run; synth reports it as a config problem.
"""

from __future__ import annotations

import json

from mlops_platform.config.errors import ConfigIssue

MAX_ARG_STRLEN = 32 * 4096
"""Linux's limit on one argument or environment string, its terminating NUL included (x86_64 and arm64)."""
VARIABLE = "PULUMI_CONFIG"


def _go_json(value: object) -> str:
    """JSON as Go's encoding/json writes it: compact, map keys sorted, <, > and & escaped, UTF-8 as is."""
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def engine_config_bytes(values: dict[str, str]) -> int:
    """Bytes of the ``PULUMI_CONFIG=...`` string the language host sets for these namespaced config values.

    Structured values travel as the CLI's compact JSON of the YAML value, inside the JSON object of all keys.
    """
    encoded = {key: _go_json(json.loads(value)) if value[:1] in "[{" else value for key, value in values.items()}
    return len(f"{VARIABLE}={_go_json(encoded)}".encode()) + 1


def config_size_issues(values: dict[str, str]) -> list[ConfigIssue]:
    """A problem when the stack's config is too large for the engine to start the program with it."""
    size = engine_config_bytes(values)
    if size <= MAX_ARG_STRLEN:
        return []
    return [
        ConfigIssue(
            "(the whole stack config)",
            f"is {size:,} bytes as the engine passes it to the program in {VARIABLE}; Linux starts no process with an "
            f"environment string over {MAX_ARG_STRLEN:,} bytes, so `pulumi preview` and `pulumi up` would fail with "
            "'argument list too long'; split the models over more stacks or shorten their entries",
        )
    ]
