"""Write components/catalog/regional_prices.py: the offer table's instance types priced in every region the source
lists, and where GCP and Azure offer them.

The source is skypilot-org/skypilot-catalog, one file per cloud at the commit read (``FILES``). Download the three
files and run::

    python -m tools.regional_prices --aws aws-vms.csv --gcp gcp-vms.csv --azure azure-vms.csv \\
        > components/catalog/regional_prices.py

e.g. ``curl -sSfLo aws-vms.csv https://raw.githubusercontent.com/skypilot-org/skypilot-catalog/<commit>/<path>``.
Only the rows of the offer table's instance types (and of the GPUs GCP attaches) are used, and only the columns named
in ``COLUMNS``, so a file holding just those rows and columns gives the same module. The runtime package never
imports this script.

Rules, per cloud:

* aws: one row per Availability Zone ID. The region's on-demand price is the one price its zones share (a region
  whose zones disagree is an error); Local Zones (IDs such as ``usw2-lax1-az1``) are left out, as the offer table
  leaves them out. Spot is the median of the zones' quotes, as in the offer table.
* gcp: a row per zone for each machine type (the machine's vCPUs and memory) and for each GPU count
  (``AcceleratorName``/``AcceleratorCount`` with no machine type). A node is the machine plus its GPUs, as
  ``offers.py`` composes N1 + T4; G2, A2 and A3 machines price their built-in GPUs the same way. The machine and
  the GPUs must each have one price per region. Zones offering the node are the machine's zones that also have
  the GPU count. The source prices no local SSD, so machine types that come with one (A2 Ultra, A3) are priced
  without it. A GPU whose price in some region is below ``GCP_FLOOR`` of its reference-region price, or whose
  reference-region node differs from ``offers.py`` by more than ``GCP_TOLERANCE``, is taken for mixing
  discounted SKUs into list prices: its machine types get zones here but no regional prices (named in
  ``UNPRICED`` with the figures that failed).
* azure: one row per region and VM size; no zone data, so zones are not checked.

Everywhere, a spot figure is dropped (None) when there is none or it is not below on-demand.
"""

from __future__ import annotations

import argparse
import csv
import re
import statistics
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from mlops_platform.catalog.offers import ENDPOINT_OFFERS, OFFERS, REFERENCE_REGIONS

READ_ON = "2026-12-07"
REPOSITORY = "skypilot-org/skypilot-catalog"
FILES: dict[str, tuple[str, str]] = {
    "aws": ("catalogs/v8/aws/vms.csv", "00148f2af3672e2229b4f7bf8157d5a3f36e3c35"),
    "gcp": ("catalogs/v8/gcp/vms.csv", "006059e0f18acb1341e22a27751e9f80df6ba92f"),
    "azure": ("catalogs/v6/azure/vms.csv", "098741e70562f65d7af1cceb81e33b284f742604"),
}
"""Cloud to (path in the repository, commit read). v6 is the newest catalog version that holds Azure."""
COLUMNS: dict[str, tuple[str, ...]] = {
    "aws": ("InstanceType", "Price", "SpotPrice", "Region", "AvailabilityZone"),
    "gcp": ("InstanceType", "AcceleratorName", "AcceleratorCount", "Region", "AvailabilityZone", "Price", "SpotPrice"),
    "azure": ("InstanceType", "AcceleratorName", "AcceleratorCount", "Price", "SpotPrice", "Region"),
}
"""The columns read; the files have more."""
GCP_GPU_NAMES = {
    "nvidia-tesla-t4": "T4",
    "nvidia-l4": "L4",
    "nvidia-tesla-a100": "A100",
    "nvidia-a100-80gb": "A100-80GB",
    "nvidia-h100-80gb": "H100",
}
"""offers.py's GCP accelerator name to the source's AcceleratorName."""
GCP_FLOOR = 0.9
GCP_TOLERANCE = 0.02
_AWS_ZONE_ID = re.compile(r"^[a-z]+\d*-az\d+$")
"""A regular Availability Zone ID (``use1-az4``); Local and Wavelength Zone IDs have a further part."""

Price = tuple[float, float | None]


@dataclass(frozen=True)
class Regional:
    prices: dict[str, dict[str, dict[str, Price]]]
    """cloud -> instance type -> region -> (on-demand, spot)."""
    gcp_zones: dict[str, dict[str, tuple[str, ...]]]
    azure_regions: dict[str, tuple[str, ...]]
    covered: dict[str, tuple[str, ...]]
    unpriced: dict[str, dict[str, str]]


def read(path: Path, cloud: str) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    missing = [c for c in COLUMNS[cloud] if rows and c not in rows[0]]
    if missing:
        raise SystemExit(f"{path}: no column {', '.join(missing)}; expected the {cloud} file {FILES[cloud][0]}")
    return rows


def _number(text: str) -> float | None:
    return float(text) if text.strip() else None


def _spot(on_demand: float, spot: float | None) -> float | None:
    return round(spot, 6) if spot is not None and spot < on_demand else None


def _one(values: Iterable[float], what: str) -> float:
    found = sorted(set(values))
    if len(found) != 1:
        raise SystemExit(f"{what}: expected one price, found {found}")
    return found[0]


def aws_prices(rows: list[dict[str, str]], wanted: set[str]) -> dict[str, dict[str, Price]]:
    by: dict[tuple[str, str], list[dict[str, str]]] = {}
    for row in rows:
        if row["InstanceType"] in wanted and _AWS_ZONE_ID.match(row["AvailabilityZone"]) and _number(row["Price"]) is not None:
            by.setdefault((row["InstanceType"], row["Region"]), []).append(row)
    prices: dict[str, dict[str, Price]] = {}
    for (instance, region), found in sorted(by.items()):
        on_demand = _one((float(r["Price"]) for r in found), f"aws {instance} in {region}")
        quotes = [q for r in found if (q := _number(r["SpotPrice"])) is not None]
        prices.setdefault(instance, {})[region] = (on_demand, _spot(on_demand, statistics.median(quotes) if quotes else None))
    return prices


@dataclass(frozen=True)
class _GcpPart:
    price: dict[str, tuple[float, float | None]]
    """region -> (on-demand, spot)"""
    zones: dict[str, set[str]]


def _gcp_part(rows: list[dict[str, str]], what: str) -> _GcpPart:
    price: dict[str, tuple[float, float | None]] = {}
    zones: dict[str, set[str]] = {}
    regions = sorted({r["Region"] for r in rows})
    for region in regions:
        here = [r for r in rows if r["Region"] == region]
        zones[region] = {r["AvailabilityZone"] for r in here}
        on_demand = [p for r in here if (p := _number(r["Price"])) is not None]
        if on_demand:
            spots = [s for r in here if (s := _number(r["SpotPrice"])) is not None]
            price[region] = (_one(on_demand, f"gcp {what} in {region}"), _one(spots, f"gcp {what} spot in {region}") if spots else None)
    return _GcpPart(price, zones)


def gcp(rows: list[dict[str, str]]) -> tuple[dict[str, dict[str, Price]], dict[str, dict[str, tuple[str, ...]]], dict[str, str]]:
    reference = REFERENCE_REGIONS["gcp"]
    nodes = [o for o in OFFERS if o.cloud == "gcp"]
    machine_rows: dict[str, list[dict[str, str]]] = {}
    gpu_rows: dict[tuple[str, int], list[dict[str, str]]] = {}
    for row in rows:
        if row["InstanceType"]:
            machine_rows.setdefault(row["InstanceType"], []).append(row)
        elif row["AcceleratorName"]:
            gpu_rows.setdefault((row["AcceleratorName"], int(float(row["AcceleratorCount"]))), []).append(row)
    suspect: dict[str, str] = {}
    for name in sorted({GCP_GPU_NAMES[o.accelerator] for o in nodes}):
        counts = sorted({o.gpus for o in nodes if GCP_GPU_NAMES[o.accelerator] == name})
        parts = {n: _gcp_part(gpu_rows.get((name, n), []), f"{name} x{n}") for n in counts}
        base = parts[counts[0]].price.get(reference)
        if base is None:
            suspect[name] = f"the source has no {reference} price for {name}"
            continue
        per_gpu = base[0] / counts[0]
        low = sorted(
            (region, price[0] / n)
            for n, part in parts.items()
            for region, price in part.price.items()
            if price[0] / n < GCP_FLOOR * per_gpu
        )
        if low:
            shown = ", ".join(f"{region} {value:.5f}" for region, value in dict(low).items())
            suspect[name] = (
                f"the source's {name} price per GPU is below {GCP_FLOOR:.0%} of its {reference} figure ({per_gpu:.5f}) in "
                f"{shown}: discounted SKUs mixed into list prices"
            )
    prices: dict[str, dict[str, Price]] = {}
    zones: dict[str, dict[str, tuple[str, ...]]] = {}
    unpriced: dict[str, str] = {}
    for offer in sorted(nodes, key=lambda o: o.instance_type):
        name = GCP_GPU_NAMES[offer.accelerator]
        machine = _gcp_part(machine_rows.get(offer.instance_type, []), offer.instance_type)
        gpus = _gcp_part(gpu_rows.get((name, offer.gpus), []), f"{name} x{offer.gpus}")
        zones[offer.instance_type] = {
            region: tuple(sorted(machine.zones[region] & gpus.zones.get(region, set())))
            for region in sorted(machine.zones)
            if machine.zones[region] & gpus.zones.get(region, set())
        }
        composed: dict[str, Price] = {}
        for region in zones[offer.instance_type]:
            if region in machine.price and region in gpus.price:
                (m_od, m_spot), (g_od, g_spot) = machine.price[region], gpus.price[region]
                on_demand = round(m_od + g_od, 6)
                spot = _spot(on_demand, m_spot + g_spot) if m_spot is not None and g_spot is not None else None
                composed[region] = (on_demand, spot)
        at_reference = composed.get(reference)
        if name in suspect:
            unpriced[offer.instance_type] = suspect[name]
        elif at_reference is None or abs(at_reference[0] - offer.on_demand_hourly_usd) > GCP_TOLERANCE * offer.on_demand_hourly_usd:
            unpriced[offer.instance_type] = (
                f"the source's {reference} node ({at_reference[0] if at_reference else 'no price'}) is not within "
                f"{GCP_TOLERANCE:.0%} of offers.py ({offer.on_demand_hourly_usd})"
            )
        else:
            prices[offer.instance_type] = composed
    return prices, zones, unpriced


def azure(rows: list[dict[str, str]], wanted: set[str]) -> tuple[dict[str, dict[str, Price]], dict[str, tuple[str, ...]]]:
    prices: dict[str, dict[str, Price]] = {}
    regions: dict[str, set[str]] = {}
    for row in rows:
        instance, region = row["InstanceType"], row["Region"]
        if instance not in wanted:
            continue
        regions.setdefault(instance, set()).add(region)
        on_demand = _number(row["Price"])
        if on_demand is not None:
            if region in prices.get(instance, {}):
                raise SystemExit(f"azure {instance} in {region}: more than one row")
            prices.setdefault(instance, {})[region] = (on_demand, _spot(on_demand, _number(row["SpotPrice"])))
    return {k: dict(sorted(v.items())) for k, v in sorted(prices.items())}, {k: tuple(sorted(v)) for k, v in sorted(regions.items())}


def build(aws_rows: list[dict[str, str]], gcp_rows: list[dict[str, str]], azure_rows: list[dict[str, str]]) -> Regional:
    aws_types = {o.instance_type for o in OFFERS if o.cloud == "aws"}
    azure_nodes = {o.instance_type for o in OFFERS if o.cloud == "azure"}
    azure_types = azure_nodes | {e.instance_type for e in ENDPOINT_OFFERS if e.cloud == "azure"}
    gcp_prices, gcp_zones, gcp_unpriced = gcp(gcp_rows)
    azure_prices, azure_regions = azure(azure_rows, azure_types)
    for cloud, types, found in (("aws", aws_types, aws_prices(aws_rows, aws_types)), ("azure", azure_types, azure_prices)):
        absent = sorted(types - set(found))
        if absent:
            raise SystemExit(f"{cloud}: the source has no rows for {', '.join(absent)}")
    prices = {"aws": aws_prices(aws_rows, aws_types), "gcp": gcp_prices, "azure": azure_prices}
    gpu_regions = {k: v for k, v in azure_regions.items() if k in azure_nodes}
    covered = {
        "gcp": tuple(sorted({region for by_region in gcp_zones.values() for region in by_region})),
        "azure": tuple(sorted({region for found in gpu_regions.values() for region in found})),
    }
    return Regional(prices, gcp_zones, gpu_regions, covered, {"gcp": gcp_unpriced})


def _wrap(text: str, width: int = 100) -> list[str]:
    """Text cut into pieces of at most ``width`` characters at spaces, each piece keeping its trailing space."""
    pieces: list[str] = []
    for word in text.split(" "):
        if pieces and len(pieces[-1]) + len(word) < width:
            pieces[-1] += " " + word
        else:
            pieces.append(word)
    return [piece + ("" if i == len(pieces) - 1 else " ") for i, piece in enumerate(pieces)]


def _price(price: Price) -> str:
    return f"({price[0]!r}, {price[1]!r})"


def _strings(values: Iterable[str]) -> str:
    items = [f'"{v}"' for v in values]
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def _nested(
    name: str, annotation: str, table: Mapping[str, Mapping[str, tuple[str, ...]]], show: Callable[[tuple[str, ...]], str], doc: str
) -> list[str]:
    lines = [f"{name}: {annotation} = {{"]
    for key, inner in table.items():
        lines.append(f'    "{key}": {{')
        for region, value in inner.items():
            lines.append(f'        "{region}": {show(value)},')
        lines.append("    },")
    return [*lines, "}", f'"""{doc}"""', ""]


def render(regional: Regional) -> str:
    sources = "\n".join(f"* {cloud}: ``{path}`` @ {commit}" for cloud, (path, commit) in FILES.items())
    lines = [
        '"""List prices of the offer table\'s instance types in every region the source lists, and where GCP and Azure offer them.',
        "",
        f"Generated by tools/regional_prices.py from {REPOSITORY}, read {READ_ON}:",
        "",
        sources,
        "",
        "USD per hour, Linux, no discounts; what each cloud's figures are and how they were combined is in",
        "tools/regional_prices.py. In short: AWS on-demand is the region's price and spot the median of its",
        "Availability Zones' quotes; a GCP node is its machine type plus its GPUs (no bundled local SSD); Azure is",
        "the VM price. A spot figure is None where the source has none or it is not below on-demand.",
        "",
        "The reference regions of offers.py keep its figures; this table prices the other regions. The Azure file",
        "lists US regions only, and no Availability Zones; GCP zones are the machine type's zones that also have its",
        "GPUs. SageMaker and Vertex AI endpoint prices are not in the source (endpoints there stay on the reference",
        "region); Azure ML bills the VM price, which is here.",
        "",
        "Do not edit: regenerate with tools/regional_prices.py (its docstring says how).",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        f'READ_ON = "{READ_ON}"',
        "SOURCES: dict[str, tuple[str, str, str]] = {",
        *(f'    "{cloud}": ("{REPOSITORY}", "{path}", "{commit}"),' for cloud, (path, commit) in FILES.items()),
        "}",
        '"""Cloud to (repository, path, commit) of the file read."""',
        "",
    ]
    lines += ["PRICES: dict[str, dict[str, dict[str, tuple[float, float | None]]]] = {"]
    for cloud, by_type in regional.prices.items():
        lines.append(f'    "{cloud}": {{')
        for instance, by_region in sorted(by_type.items()):
            lines.append(f'        "{instance}": {{')
            lines += [f'            "{region}": {_price(price)},' for region, price in sorted(by_region.items())]
            lines.append("        },")
        lines.append("    },")
    lines += ["}", '"""Cloud -> instance type -> region -> (on-demand, spot) USD per hour."""', ""]
    lines += _nested(
        "GCP_ZONES",
        "dict[str, dict[str, tuple[str, ...]]]",
        regional.gcp_zones,
        _strings,
        "GCP machine type -> region -> the zones that offer it with its GPUs.",
    )
    lines += [
        "AZURE_REGIONS: dict[str, tuple[str, ...]] = {",
        *(f'    "{instance}": {_strings(regions)},' for instance, regions in regional.azure_regions.items()),
        "}",
        '"""Azure GPU VM size -> the regions that offer it."""',
        "",
        "COVERED: dict[str, frozenset[str]] = {",
    ]
    for cloud, regions in regional.covered.items():
        lines += [f'    "{cloud}": frozenset(', "        {", *(f'            "{r}",' for r in regions), "        }", "    ),"]
    lines += [
        "}",
        '"""The regions where the source lists at least one of the offer table\'s GPU instance types; elsewhere',
        'availability is not checked."""',
        "",
        "UNPRICED: dict[str, dict[str, str]] = {",
    ]
    for cloud, reasons in regional.unpriced.items():
        lines.append(f'    "{cloud}": {{')
        for instance, reason in sorted(reasons.items()):
            parts = _wrap(reason)
            if len(parts) == 1:
                lines.append(f'        "{instance}": "{parts[0]}",')
            else:
                lines += [f'        "{instance}": (', *(f'            "{part}"' for part in parts), "        ),"]
        lines.append("    },")
    lines += ["}", '"""Instance types left without regional prices, and why (their zones are still above)."""', ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    for cloud in FILES:
        parser.add_argument(f"--{cloud}", type=Path, required=True, help=f"{FILES[cloud][0]} at {FILES[cloud][1][:8]}")
    args = parser.parse_args(argv)
    regional = build(read(args.aws, "aws"), read(args.gcp, "gcp"), read(args.azure, "azure"))
    sys.stdout.write(render(regional))
    return 0


if __name__ == "__main__":
    sys.exit(main())
