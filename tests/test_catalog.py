"""The offer table: only the six GPU types, no duplicates, consistent prices, and lookups that pick what they say."""

from __future__ import annotations

from collections import Counter
from typing import get_args

import pytest

from mlops_platform.catalog.gpus import GPUS, GpuType
from mlops_platform.catalog.offers import (
    ENDPOINT_OFFERS,
    OFFERS,
    PRICES_AS_OF,
    REFERENCE_REGIONS,
    endpoint_offer,
    gpu_counts,
    hourly_price,
    offer_for,
    offers,
)

GPU_TYPES = set(get_args(GpuType))
CLOUDS = ("aws", "gcp", "azure")


def test_reference_regions_and_date():
    assert REFERENCE_REGIONS == {"aws": "us-east-1", "gcp": "us-central1", "azure": "eastus"}
    year, month = PRICES_AS_OF.split("-")
    assert len(year) == 4 and 1 <= int(month) <= 12


def test_every_offer_is_one_of_the_six_gpu_types():
    assert set(GPUS) == GPU_TYPES
    assert len(GPU_TYPES) == 6
    for o in OFFERS:
        assert o.gpu_type in GPU_TYPES, o
        assert o.cloud in CLOUDS, o


def test_no_duplicate_instance_type_per_cloud():
    counts = Counter((o.cloud, o.instance_type) for o in OFFERS)
    assert [key for key, n in counts.items() if n > 1] == []
    endpoint_counts = Counter((e.cloud, e.instance_type) for e in ENDPOINT_OFFERS)
    assert [key for key, n in endpoint_counts.items() if n > 1] == []


def test_prices_and_shapes_are_positive_and_spot_is_cheaper():
    for o in OFFERS:
        assert o.gpus >= 1 and o.vcpus >= 1 and o.memory_gib > 0, o
        assert o.on_demand_hourly_usd > 0, o
        if o.spot_hourly_usd is not None:
            assert 0 < o.spot_hourly_usd < o.on_demand_hourly_usd, o


def test_every_row_has_a_source():
    for o in OFFERS:
        assert o.source.strip(), o
    for e in ENDPOINT_OFFERS:
        assert e.source.strip(), e


def test_accelerator_names():
    for o in OFFERS:
        if o.cloud in ("aws", "azure"):
            assert o.accelerator == o.gpu_type, o
    gcp = {o.gpu_type: o.accelerator for o in OFFERS if o.cloud == "gcp"}
    assert gcp == {
        "nvidia-t4": "nvidia-tesla-t4",
        "nvidia-l4": "nvidia-l4",
        "nvidia-a100-40gb": "nvidia-tesla-a100",
        "nvidia-a100-80gb": "nvidia-a100-80gb",
        "nvidia-h100-80gb": "nvidia-h100-80gb",
    }


def test_gpus_a_cloud_does_not_offer_are_absent():
    assert offers("azure", "nvidia-l4") == [] and gpu_counts("azure", "nvidia-l4") == []
    assert offers("azure", "nvidia-a10g") == [] and gpu_counts("azure", "nvidia-a10g") == []
    assert offers("gcp", "nvidia-a10g") == [] and gpu_counts("gcp", "nvidia-a10g") == []
    assert offer_for("azure", "nvidia-l4", 1) is None
    assert offer_for("gcp", "nvidia-a10g", 1) is None
    assert offers("oci", "nvidia-t4") == []


def test_each_cloud_covers_the_gpus_it_offers():
    offered = {cloud: {o.gpu_type for o in OFFERS if o.cloud == cloud} for cloud in CLOUDS}
    assert offered["aws"] == GPU_TYPES
    assert offered["gcp"] == GPU_TYPES - {"nvidia-a10g"}
    assert offered["azure"] == {"nvidia-t4", "nvidia-a100-40gb", "nvidia-a100-80gb", "nvidia-h100-80gb"}


@pytest.mark.parametrize(
    ("cloud", "gpu_type", "counts"),
    [
        ("aws", "nvidia-t4", [1, 4, 8]),
        ("aws", "nvidia-l4", [1, 4, 8]),
        ("aws", "nvidia-a10g", [1, 4, 8]),
        ("aws", "nvidia-a100-40gb", [8]),
        ("aws", "nvidia-a100-80gb", [8]),
        ("aws", "nvidia-h100-80gb", [1, 8]),
        ("gcp", "nvidia-t4", [1, 2, 4]),
        ("gcp", "nvidia-l4", [1, 2, 4, 8]),
        ("gcp", "nvidia-a100-40gb", [1, 2, 4, 8]),
        ("gcp", "nvidia-a100-80gb", [1, 2, 4, 8]),
        ("gcp", "nvidia-h100-80gb", [8]),
        ("azure", "nvidia-t4", [1, 4]),
        ("azure", "nvidia-a100-80gb", [1, 2, 4, 8]),
        ("azure", "nvidia-a100-40gb", [8]),
        ("azure", "nvidia-h100-80gb", [8]),
    ],
)
def test_gpu_counts(cloud, gpu_type, counts):
    got = gpu_counts(cloud, gpu_type)
    assert got == counts
    assert got == sorted(set(got))


def test_offers_sorted_by_gpus_then_price():
    for cloud in CLOUDS:
        for gpu_type in GPU_TYPES:
            listed = offers(cloud, gpu_type)
            keys = [(o.gpus, o.on_demand_hourly_usd) for o in listed]
            assert keys == sorted(keys)
            assert all(o.cloud == cloud and o.gpu_type == gpu_type for o in listed)


def test_offer_for_is_the_cheapest_exact_count():
    for cloud in CLOUDS:
        for gpu_type in GPU_TYPES:
            for n in gpu_counts(cloud, gpu_type):
                chosen = offer_for(cloud, gpu_type, n)
                same = [o for o in OFFERS if o.cloud == cloud and o.gpu_type == gpu_type and o.gpus == n]
                assert chosen is not None and chosen.gpus == n
                assert chosen.on_demand_hourly_usd == min(o.on_demand_hourly_usd for o in same)
            assert offer_for(cloud, gpu_type, 3) is None  # no cloud sells 3-GPU nodes of these types
    # Two 1 x L4 shapes on AWS and two 1 x A10G: the smaller, cheaper one wins.
    assert offer_for("aws", "nvidia-l4", 1).instance_type == "g6.xlarge"  # type: ignore[union-attr]
    assert offer_for("aws", "nvidia-a10g", 1).instance_type == "g5.xlarge"  # type: ignore[union-attr]
    assert offer_for("gcp", "nvidia-l4", 1).instance_type == "g2-standard-8"  # type: ignore[union-attr]
    assert offer_for("azure", "nvidia-a100-80gb", 1).instance_type == "Standard_NC24ads_A100_v4"  # type: ignore[union-attr]


def test_hourly_price_reads_the_table():
    for o in OFFERS:
        assert hourly_price(o.cloud, o.instance_type) == o.on_demand_hourly_usd
        assert hourly_price(o.cloud, o.instance_type, "on_demand") == o.on_demand_hourly_usd
        assert hourly_price(o.cloud, o.instance_type, "spot") == o.spot_hourly_usd
    assert hourly_price("aws", "g5.xlarge") == 1.006
    assert hourly_price("aws", "p5.4xlarge", "spot") is None  # no spot figure recorded


def test_hourly_price_unknown_is_none_and_bad_capacity_is_refused():
    assert hourly_price("aws", "g99.xlarge") is None
    assert hourly_price("gcp", "g5.xlarge") is None  # an AWS type asked of GCP
    assert hourly_price("oci", "g5.xlarge", "spot") is None
    with pytest.raises(ValueError, match="capacity"):
        hourly_price("aws", "g5.xlarge", "reserved")


def test_endpoint_offers():
    required = {
        "aws": {"ml.g4dn.xlarge", "ml.g5.xlarge", "ml.g5.2xlarge", "ml.g6.xlarge", "ml.g5.12xlarge", "ml.p4d.24xlarge", "ml.m5.xlarge"},
        "gcp": {"g2-standard-8", "n1-standard-4"},
        "azure": {"Standard_NC4as_T4_v3", "Standard_NC24ads_A100_v4", "Standard_DS3_v2"},
    }
    for cloud, types in required.items():
        for instance_type in types:
            e = endpoint_offer(cloud, instance_type)
            assert e is not None, (cloud, instance_type)
            assert e.cloud == cloud and e.instance_type == instance_type and e.hourly_usd > 0
    for e in ENDPOINT_OFFERS:
        assert e.cloud in CLOUDS
        assert (e.gpu_type is None) == (e.gpus == 0), e
        assert e.gpu_type is None or e.gpu_type in GPU_TYPES, e
    assert endpoint_offer("aws", "ml.g99.xlarge") is None
    assert endpoint_offer("gcp", "ml.g5.xlarge") is None


def test_azure_ml_endpoints_bill_the_vm_price():
    for e in ENDPOINT_OFFERS:
        if e.cloud == "azure" and e.gpu_type is not None:
            assert e.hourly_usd == hourly_price("azure", e.instance_type)


def test_the_aws_offerings_are_generated_from_the_pinned_moto():
    """components/catalog/aws_offerings.py is what tools/aws_offerings.py makes of the moto pinned for the loop's tests."""
    import os
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    python = Path(os.environ.get("MLOPS_LOOP_PYTHON") or root / "build" / "loop-venv" / "bin" / "python")
    if not python.exists():  # pragma: no cover - make test builds it first
        pytest.fail(f"{python} is missing: make loop-env builds the environment that pins moto")
    made = subprocess.run([str(python), str(root / "tools" / "aws_offerings.py")], capture_output=True, text=True, check=True)
    assert made.stdout == (root / "components" / "catalog" / "aws_offerings.py").read_text(), (
        "stale: build/loop-venv/bin/python tools/aws_offerings.py > components/catalog/aws_offerings.py"
    )
    from mlops_platform.catalog.aws_offerings import AWS_GPU_ZONES, AWS_REGIONS, MOTO_VERSION

    assert MOTO_VERSION == "5.2.5" and "us-east-1" in AWS_REGIONS
    aws_types = {o.instance_type for o in OFFERS if o.cloud == "aws"}
    assert set(AWS_GPU_ZONES) == aws_types and all(AWS_GPU_ZONES[t].get("us-east-1") for t in aws_types)


# --- prices in other regions, and where GCP and Azure offer each type (components/catalog/regional_prices.py) -----------


def test_the_regional_table_covers_every_offer_and_names_its_source():
    from mlops_platform.catalog.regional_prices import GCP_ZONES, PRICES, READ_ON, SOURCES, UNPRICED
    from tools.regional_prices import FILES

    assert READ_ON == "2026-12-07"
    assert {cloud: (path, commit) for cloud, (_, path, commit) in SOURCES.items()} == FILES
    for o in OFFERS:
        priced = o.instance_type in PRICES[o.cloud]
        assert priced != (o.instance_type in UNPRICED.get(o.cloud, {})), o  # priced, or unpriced with a reason
        if o.cloud == "gcp":
            assert GCP_ZONES[o.instance_type], o  # zones even where the prices are not taken
    # The GCP types the source misprices (discounted A100, A100 80GB and H100 SKUs among list prices)
    assert set(UNPRICED["gcp"]) == {
        o.instance_type for o in OFFERS if o.cloud == "gcp" and o.gpu_type.startswith(("nvidia-a1", "nvidia-h"))
    }
    for by_region in (r for table in PRICES.values() for r in table.values()):
        for on_demand, spot in by_region.values():
            assert on_demand > 0 and (spot is None or 0 < spot < on_demand)


def test_the_regional_table_agrees_with_the_offer_table_at_the_reference_regions():
    """AWS and Azure come from the very snapshots offers.py cites: the same figures. GCP's offers.py rows come from
    another snapshot (Cyclenerd pricing.yml, 2025-03): on-demand agrees to within a cent in 10,000 (rounding), spot
    to within 2 % (the two snapshots' spot readings differ)."""
    from mlops_platform.catalog.regional_prices import PRICES

    for o in OFFERS:
        found = PRICES[o.cloud].get(o.instance_type, {}).get(REFERENCE_REGIONS[o.cloud])
        if o.cloud in ("aws", "azure"):
            assert found == (o.on_demand_hourly_usd, o.spot_hourly_usd), o
        elif found is not None:
            assert found[0] == pytest.approx(o.on_demand_hourly_usd, abs=1e-4), o
            assert found[1] == pytest.approx(o.spot_hourly_usd, rel=0.02), o
    for e in ENDPOINT_OFFERS:
        if e.cloud == "azure":
            assert PRICES["azure"][e.instance_type]["eastus"][0] == e.hourly_usd, e


def test_node_price_uses_the_stacks_region_and_falls_back_to_the_reference():
    from mlops_platform.catalog.offers import node_price

    eu = node_price("aws", "g5.xlarge", "eu-west-1")
    assert eu is not None and (eu.on_demand_hourly_usd, eu.spot_hourly_usd, eu.region, eu.fallback) == (1.123, 0.5746, "eu-west-1", False)
    assert hourly_price("aws", "g5.xlarge", "spot", "eu-west-1") == 0.5746
    reference = node_price("aws", "g5.xlarge", "us-east-1")
    assert reference is not None and (reference.on_demand_hourly_usd, reference.region, reference.fallback) == (1.006, "us-east-1", False)
    assert node_price("aws", "g5.xlarge") == reference
    missing = node_price("aws", "g5.xlarge", "eu-central-2")  # not in the source's snapshot
    assert missing is not None and (missing.on_demand_hourly_usd, missing.region, missing.fallback) == (1.006, "us-east-1", True)
    gcp = node_price("gcp", "n1-standard-4", "europe-west4")  # n1-standard-4 0.20917 + one T4 0.3675
    assert gcp is not None and (gcp.on_demand_hourly_usd, gcp.region) == (0.57667, "europe-west4")
    assert node_price("aws", "g99.xlarge", "eu-west-1") is None


def test_gcp_and_azure_availability():
    from mlops_platform.catalog.offers import offered_in_region, offered_zones

    # G2 (L4) in us-central1 zones a-c; N1 + T4 also in f; the zones of a region offering the type, per GPU count
    assert offered_zones("gcp", "g2-standard-8", "us-central1") == ("us-central1-a", "us-central1-b", "us-central1-c")
    assert "us-central1-f" in offered_zones("gcp", "n1-standard-4", "us-central1")  # type: ignore[operator]
    assert offered_zones("gcp", "n1-standard-4", "europe-west3") == ("europe-west3-b",)  # N1 in a-c, T4 only in b
    assert offered_in_region("gcp", "g2-standard-8", "us-west2") is False  # N1/T4 there, no G2
    assert offered_zones("gcp", "g2-standard-8", "us-west2") == ()
    assert offered_in_region("gcp", "a3-highgpu-8g", "us-central1") is True
    assert offered_in_region("gcp", "g2-standard-8", "africa-south1") is None  # no catalog GPU type listed there
    assert offered_in_region("azure", "Standard_NC24ads_A100_v4", "eastus2") is True
    assert offered_in_region("azure", "Standard_NC24ads_A100_v4", "northcentralus") is False
    assert offered_zones("azure", "Standard_NC24ads_A100_v4", "eastus2") is None  # the source has no zone data
    assert offered_in_region("azure", "Standard_NC24ads_A100_v4", "westeurope") is None  # US regions only
    assert offered_zones("aws", "p4de.24xlarge", "us-east-1") == ("us-east-1b", "us-east-1c")


def _rows(header: str, *lines: str) -> list[dict[str, str]]:
    import csv
    import io

    return list(csv.DictReader(io.StringIO("\n".join((header, *lines)))))


def test_the_generator_rules_on_aws_rows():
    """The region's one on-demand price, the median of its Availability Zones' spot quotes, Local Zones left out,
    no spot figure where none is quoted or the quote is not a discount."""
    from tools.regional_prices import aws_prices

    header = "InstanceType,Price,SpotPrice,Region,AvailabilityZone"
    rows = _rows(
        header,
        "g5.xlarge,1.0,0.4,r-1,r1-az1",
        "g5.xlarge,1.0,0.6,r-1,r1-az2",
        "g5.xlarge,1.0,0.1,r-1,r1-lax1-az1",
        "g5.xlarge,2.0,,r-2,r2-az1",
        "g5.xlarge,3.0,3.0,r-3,r3-az1",
        "g6.xlarge,9.0,1.0,r-1,r1-az1",
    )
    assert aws_prices(rows, {"g5.xlarge"}) == {"g5.xlarge": {"r-1": (1.0, 0.5), "r-2": (2.0, None), "r-3": (3.0, None)}}
    with pytest.raises(SystemExit, match="expected one price"):
        aws_prices(_rows(header, "g5.xlarge,1.0,,r-1,r1-az1", "g5.xlarge,1.1,,r-1,r1-az2"), {"g5.xlarge"})


def test_the_generator_composes_gcp_nodes_and_refuses_mispriced_gpus():
    """A node is its machine plus its GPUs in the zones that have both; a GPU priced far below its reference-region
    figure somewhere leaves its machine types unpriced, with the reason."""
    from tools.regional_prices import GCP_GPU_NAMES, gcp

    header = "InstanceType,AcceleratorName,AcceleratorCount,Region,AvailabilityZone,Price,SpotPrice"
    nodes = [o for o in OFFERS if o.cloud == "gcp"]
    # us-central1 rows that add up to offers.py's figures: 0.35 per GPU, the rest the machine's
    reference = [f"{o.instance_type},,,us-central1,us-central1-a,{o.on_demand_hourly_usd - 0.35 * o.gpus:.6f},0.01" for o in nodes]
    gpus = sorted({(GCP_GPU_NAMES[o.accelerator], o.gpus) for o in nodes})
    rows = _rows(
        header,
        *reference,
        *(f",{name},{n},us-central1,us-central1-a,{0.35 * n:.2f},{0.1 * n:.1f}" for name, n in gpus),
        "n1-standard-4,,,europe-west4,europe-west4-a,0.2,0.05",
        "n1-standard-4,,,europe-west4,europe-west4-b,0.2,0.05",
        ",T4,1,europe-west4,europe-west4-b,0.37,0.12",
        "g2-standard-8,,,europe-west4,europe-west4-a,0.3,0.1",
        ",L4,1,europe-west4,europe-west4-a,0.1,0.05",  # far below us-central1's 0.35 per GPU
    )
    prices, zones, unpriced = gcp(rows)
    assert prices["n1-standard-4"] == {"europe-west4": (0.57, 0.17), "us-central1": (0.539999, 0.11)}
    assert zones["n1-standard-4"] == {"europe-west4": ("europe-west4-b",), "us-central1": ("us-central1-a",)}
    assert "g2-standard-8" not in prices and zones["g2-standard-8"]["europe-west4"] == ("europe-west4-a",)
    assert "below 90% of its us-central1 figure (0.35000) in europe-west4 0.10000" in unpriced["g2-standard-8"]
    assert set(unpriced) == {o.instance_type for o in nodes if o.accelerator == "nvidia-l4"}
