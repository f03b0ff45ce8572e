"""Regenerate the provider's release-time embeds from its module source.

Usage: python3 embed.py <provider module dir> <version>. Does what the upstream
generate.go does: stamps the schema version and writes both files compactly.
"""

import json
import sys
from pathlib import Path

src, version = Path(sys.argv[1]) / "cmd" / "pulumi-resource-kubernetes", sys.argv[2]
schema = json.loads((src / "schema.json").read_text())
schema["version"] = version
Path("schema-embed.json").write_text(json.dumps(schema, separators=(",", ":")))
mapping = json.loads((src / "terraform-mapping.json").read_text())
Path("terraform-mapping-embed.json").write_text(json.dumps(mapping, separators=(",", ":")))
