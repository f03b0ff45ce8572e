"""Cloud GPU instance offers and hourly prices, per cloud, in one reference region per cloud.

Prices are public list prices in USD per hour (Linux, no discounts), read 2026-11. Every row carries its own
``source``; in short:

* AWS (us-east-1): EC2 on-demand and spot from the AWS Price List API and EC2 spot price history as captured
  in skypilot-org/skypilot-catalog ``catalogs/v8/aws/vms.csv`` (commit 00148f2a, a snapshot taken after the
  June 2025 P4/P5 price cut); the P4d/P4de/P5 figures match the cut announced on the AWS News Blog on
  2025-06-05 and the datareceipts ``109-gpu-pricing/hyperscalers.json`` table retrieved 2026-11-09.
  Specs checked against the AWS Batch "GPU instance types" table.
* GCP (us-central1): Compute Engine machine + GPU + bundled local SSD totals from Cyclenerd
  google-cloud-pricing-cost-calculator ``pricing.yml`` (generated 2025-03-06 from the Cloud Billing Catalog
  API). N1 has no bundled GPU: the T4 price per GPU is from skypilot-org/skypilot-catalog
  ``catalogs/v8/gcp/vms.csv`` (commit 006059e0) and is added per attached GPU.
* Azure (eastus): pay-as-you-go and spot from the Azure Retail Prices API as captured in
  skypilot-org/skypilot-catalog ``catalogs/v6/azure/vms.csv`` (commit 098741e7); ND96asr_v4, ND96isr_H100_v5
  and NC24ads_A100_v4 match datareceipts ``hyperscalers.json`` retrieved 2026-11-09.

Spot prices move daily. A spot figure here is one representative reading: for AWS the median of the us-east-1
Availability Zone quotes in the snapshot, for GCP and Azure the published spot list price of the snapshot.
It is None when no spot figure was found or the one found was not a discount.

Endpoint prices: SageMaker real-time inference (us-east-1) and Vertex AI online prediction (us-central1) are
figures quoted by public cost tables that cite the providers' pricing pages; Azure ML managed online endpoints
bill the VM price of the SKU, so those rows repeat the VM price. SageMaker serverless inference bills per second of
invocation by memory size plus data processed (``SERVERLESS_OFFERS``). See each row's ``source``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Cloud = Literal["aws", "gcp", "azure"]

REFERENCE_REGIONS: dict[str, str] = {"aws": "us-east-1", "gcp": "us-central1", "azure": "eastus"}
PRICES_AS_OF = "2026-11"
CAPACITIES = ("on_demand", "spot")


@dataclass(frozen=True)
class InstanceOffer:
    """One instance/VM/machine type that carries GPUs, with its list prices in the cloud's reference region."""

    cloud: Cloud
    gpu_type: str
    """One of the GPU types in components/catalog/gpus.py."""
    gpus: int
    """GPUs per node."""
    instance_type: str
    vcpus: int
    memory_gib: float
    on_demand_hourly_usd: float
    spot_hourly_usd: float | None
    accelerator: str
    """The cloud's own accelerator name: on GCP the guest accelerator type; on AWS and Azure the same as gpu_type."""
    source: str
    """Where the price came from and its date."""


_AWS_EC2 = (
    "AWS EC2 on-demand Linux, us-east-1, AWS Price List API via skypilot-org/skypilot-catalog catalogs/v8/aws/vms.csv "
    "@00148f2a (post 2025-06 price cut), read 2026-11; spot = median of the us-east-1 AZ spot quotes in that snapshot"
)
_AWS_P_CUT = (
    "; on-demand matches the 2025-06-05 AWS News Blog price cut (P4d/P4de -33%, P5 -44%) and datareceipts "
    "109-gpu-pricing/hyperscalers.json retrieved 2026-11-09"
)
_GCP_BUNDLED = (
    "GCP Compute Engine us-central1 on-demand and spot list price (vCPU + memory + GPU{ssd}), Cloud Billing Catalog API via "
    "Cyclenerd/google-cloud-pricing-cost-calculator pricing.yml generated 2025-03-06, read 2026-11"
)
_GCP_N1_T4 = (
    "GCP Compute Engine us-central1: {machine} on-demand/spot from Cyclenerd/google-cloud-pricing-cost-calculator pricing.yml "
    "generated 2025-03-06, plus {n} x nvidia-tesla-t4 at $0.35/h on-demand and $0.175/h spot per GPU from "
    "skypilot-org/skypilot-catalog catalogs/v8/gcp/vms.csv @006059e0; read 2026-11"
)
_AZURE_VM = (
    "Azure VM Linux pay-as-you-go and spot, eastus, Azure Retail Prices API via skypilot-org/skypilot-catalog "
    "catalogs/v6/azure/vms.csv @098741e7, read 2026-11"
)
_AZURE_DATARECEIPTS = "; on-demand matches datareceipts 109-gpu-pricing/hyperscalers.json retrieved 2026-11-09"
_GCP_MACHINE = _GCP_BUNDLED.format(ssd="")
_AZURE_NC_A100_NOTE = (
    "; datareceipts hyperscalers.json (retrieved 2026-11-09) lists {other} for this SKU, "
    "close to the catalog's westus price: not reconciled"
)


def _gcp_ssd(gb: int) -> str:
    """The GCP source of a machine type whose price includes the local SSD that comes with it."""
    return _GCP_BUNDLED.format(ssd=f" + bundled local SSD ({gb} GB)")


def _aws(
    gpu_type: str, gpus: int, instance_type: str, vcpus: int, memory_gib: float, on_demand: float, spot: float | None, note: str = ""
) -> InstanceOffer:
    return InstanceOffer("aws", gpu_type, gpus, instance_type, vcpus, memory_gib, on_demand, spot, gpu_type, _AWS_EC2 + note)


def _gcp(
    gpu_type: str,
    gpus: int,
    instance_type: str,
    vcpus: int,
    memory_gib: float,
    on_demand: float,
    spot: float | None,
    accelerator: str,
    source: str,
) -> InstanceOffer:
    return InstanceOffer("gcp", gpu_type, gpus, instance_type, vcpus, memory_gib, on_demand, spot, accelerator, source)


def _azure(
    gpu_type: str, gpus: int, instance_type: str, vcpus: int, memory_gib: float, on_demand: float, spot: float | None, note: str = ""
) -> InstanceOffer:
    return InstanceOffer("azure", gpu_type, gpus, instance_type, vcpus, memory_gib, on_demand, spot, gpu_type, _AZURE_VM + note)


OFFERS: tuple[InstanceOffer, ...] = (
    # --- AWS, us-east-1 -------------------------------------------------------------------------------------------
    _aws("nvidia-t4", 1, "g4dn.xlarge", 4, 16, 0.526, 0.2039),
    _aws("nvidia-t4", 4, "g4dn.12xlarge", 48, 192, 3.912, 1.3211),
    _aws("nvidia-t4", 8, "g4dn.metal", 96, 384, 7.824, 2.9633),
    _aws("nvidia-l4", 1, "g6.xlarge", 4, 16, 0.8048, 0.38205),
    _aws("nvidia-l4", 1, "g6.2xlarge", 8, 32, 0.9776, 0.47645),
    _aws("nvidia-l4", 4, "g6.12xlarge", 48, 192, 4.6016, 1.9992),
    _aws("nvidia-l4", 8, "g6.48xlarge", 192, 768, 13.3504, 5.5119),
    _aws("nvidia-a10g", 1, "g5.xlarge", 4, 16, 1.006, 0.436),
    _aws("nvidia-a10g", 1, "g5.2xlarge", 8, 32, 1.212, 0.5036),
    _aws("nvidia-a10g", 4, "g5.12xlarge", 48, 192, 5.672, 2.1824),
    _aws("nvidia-a10g", 8, "g5.48xlarge", 192, 768, 16.288, 5.8671),
    _aws("nvidia-a100-40gb", 8, "p4d.24xlarge", 96, 1152, 21.957642, 8.0001, _AWS_P_CUT),
    _aws("nvidia-a100-80gb", 8, "p4de.24xlarge", 96, 1152, 27.44705, 9.31195, _AWS_P_CUT + "; spot: only 2 us-east-1 AZs quoted"),
    _aws(
        "nvidia-h100-80gb",
        8,
        "p5.48xlarge",
        192,
        2048,
        55.04,
        23.45325,
        _AWS_P_CUT + "; spot: 2 of 6 us-east-1 AZs quoted the on-demand price",
    ),
    _aws("nvidia-h100-80gb", 1, "p5.4xlarge", 16, 256, 6.88, None, "; no us-east-1 spot quote in the snapshot"),
    # --- GCP, us-central1 -----------------------------------------------------------------------------------------
    # N1 + attached T4: total = machine + GPUs. T4 on N1 allows up to 48 vCPUs with 1 or 2 GPUs, 96 with 4.
    _gcp("nvidia-t4", 1, "n1-standard-4", 4, 15, 0.539999, 0.22701, "nvidia-tesla-t4", _GCP_N1_T4.format(machine="n1-standard-4", n=1)),
    _gcp("nvidia-t4", 2, "n1-standard-8", 8, 30, 1.079998, 0.45402, "nvidia-tesla-t4", _GCP_N1_T4.format(machine="n1-standard-8", n=2)),
    _gcp("nvidia-t4", 4, "n1-standard-16", 16, 60, 2.159996, 0.90804, "nvidia-tesla-t4", _GCP_N1_T4.format(machine="n1-standard-16", n=4)),
    # G2: the L4s come with the machine type.
    _gcp("nvidia-l4", 1, "g2-standard-8", 8, 32, 0.853624271, 0.336764, "nvidia-l4", _GCP_MACHINE),
    _gcp("nvidia-l4", 2, "g2-standard-24", 24, 96, 2.000832574, 0.787192, "nvidia-l4", _GCP_MACHINE),
    _gcp("nvidia-l4", 4, "g2-standard-48", 48, 192, 4.001665148, 1.574384, "nvidia-l4", _GCP_MACHINE),
    _gcp("nvidia-l4", 8, "g2-standard-96", 96, 384, 8.003330296, 3.148768, "nvidia-l4", _GCP_MACHINE),
    # A2 High: A100 40GB.
    _gcp("nvidia-a100-40gb", 1, "a2-highgpu-1g", 12, 85, 3.673385, 1.293355, "nvidia-tesla-a100", _GCP_MACHINE),
    _gcp("nvidia-a100-40gb", 2, "a2-highgpu-2g", 24, 170, 7.34677, 2.58671, "nvidia-tesla-a100", _GCP_MACHINE),
    _gcp("nvidia-a100-40gb", 4, "a2-highgpu-4g", 48, 340, 14.69354, 5.17342, "nvidia-tesla-a100", _GCP_MACHINE),
    _gcp("nvidia-a100-40gb", 8, "a2-highgpu-8g", 96, 680, 29.38708, 10.34684, "nvidia-tesla-a100", _GCP_MACHINE),
    # A2 Ultra: A100 80GB, with local SSD that comes with the machine type.
    _gcp("nvidia-a100-80gb", 1, "a2-ultragpu-1g", 12, 170, 5.06879789, 2.02746836, "nvidia-a100-80gb", _gcp_ssd(375)),
    _gcp("nvidia-a100-80gb", 2, "a2-ultragpu-2g", 24, 340, 10.13759578, 4.05493671, "nvidia-a100-80gb", _gcp_ssd(750)),
    _gcp("nvidia-a100-80gb", 4, "a2-ultragpu-4g", 48, 680, 20.27519156, 8.10987342, "nvidia-a100-80gb", _gcp_ssd(1500)),
    _gcp("nvidia-a100-80gb", 8, "a2-ultragpu-8g", 96, 1360, 40.55038312, 16.21974685, "nvidia-a100-80gb", _gcp_ssd(3000)),
    # A3 High: H100 80GB. a3-highgpu-1g/2g/4g are left out: they are offered through Spot and Flex-start only,
    # not as on-demand node pools.
    _gcp("nvidia-h100-80gb", 8, "a3-highgpu-8g", 208, 1872, 88.49, 35.39575, "nvidia-h100-80gb", _gcp_ssd(6000)),
    # --- Azure, eastus --------------------------------------------------------------------------------------------
    # No L4 and no A10G on Azure; NVadsA10 v5 is a (fractional) A10 and NC H100 v5 is H100 NVL 94GB: both left out.
    _azure("nvidia-t4", 1, "Standard_NC4as_T4_v3", 4, 28, 0.526, 0.062699),
    _azure("nvidia-t4", 4, "Standard_NC64as_T4_v3", 64, 440, 4.352, 0.518758),
    _azure("nvidia-a100-80gb", 1, "Standard_NC24ads_A100_v4", 24, 220, 3.673, 0.444433, _AZURE_DATARECEIPTS),
    _azure("nvidia-a100-80gb", 2, "Standard_NC48ads_A100_v4", 48, 440, 7.346, 0.888866, _AZURE_NC_A100_NOTE.format(other=9.554)),
    _azure("nvidia-a100-80gb", 4, "Standard_NC96ads_A100_v4", 96, 880, 14.692, 1.777732, _AZURE_NC_A100_NOTE.format(other=19.108)),
    _azure("nvidia-a100-80gb", 8, "Standard_ND96amsr_A100_v4", 96, 1800, 32.77, 3.6047),
    _azure("nvidia-a100-40gb", 8, "Standard_ND96asr_v4", 96, 900, 27.197, 2.99167, _AZURE_DATARECEIPTS),
    _azure(
        "nvidia-h100-80gb",
        8,
        "Standard_ND96isr_H100_v5",
        96,
        1900,
        98.32,
        None,
        _AZURE_DATARECEIPTS + "; the snapshot's spot figure equals on-demand, so no spot figure is recorded",
    ),
)


def offers(cloud: str, gpu_type: str) -> list[InstanceOffer]:
    """The offers of one GPU type on one cloud, sorted by GPUs per node, then on-demand price."""
    return sorted(
        (o for o in OFFERS if o.cloud == cloud and o.gpu_type == gpu_type),
        key=lambda o: (o.gpus, o.on_demand_hourly_usd),
    )


def offer_for(cloud: str, gpu_type: str, gpus: int) -> InstanceOffer | None:
    """The cheapest on-demand offer with exactly `gpus` GPUs of the type; None if the cloud has none."""
    return next((o for o in offers(cloud, gpu_type) if o.gpus == gpus), None)


def gpu_counts(cloud: str, gpu_type: str) -> list[int]:
    """The distinct GPUs-per-node counts the cloud offers for the type, ascending."""
    return sorted({o.gpus for o in OFFERS if o.cloud == cloud and o.gpu_type == gpu_type})


@dataclass(frozen=True)
class EndpointOffer:
    """The hourly price of one instance behind a managed online inference endpoint."""

    cloud: Cloud
    instance_type: str
    gpu_type: str | None
    gpus: int
    hourly_usd: float
    source: str


_SAGEMAKER = (
    "Amazon SageMaker AI real-time inference on-demand, us-east-1 (aws.amazon.com/sagemaker/pricing), as quoted by "
    "several public cost tables in 2025-2026 read 2026-11"
)
_VERTEX = "Vertex AI online prediction per node hour, us-central1 (cloud.google.com/vertex-ai/pricing), "
_AZURE_ML = "Azure ML managed online endpoint: no charge on top of the VM; VM price = " + _AZURE_VM

ENDPOINT_OFFERS: tuple[EndpointOffer, ...] = (
    EndpointOffer("aws", "ml.g4dn.xlarge", "nvidia-t4", 1, 0.7364, _SAGEMAKER),
    EndpointOffer("aws", "ml.g5.xlarge", "nvidia-a10g", 1, 1.408, _SAGEMAKER),
    EndpointOffer("aws", "ml.g5.2xlarge", "nvidia-a10g", 1, 1.515, _SAGEMAKER),
    EndpointOffer("aws", "ml.g5.12xlarge", "nvidia-a10g", 4, 7.09, _SAGEMAKER),
    EndpointOffer(
        "aws",
        "ml.g6.xlarge",
        "nvidia-l4",
        1,
        1.127,
        _SAGEMAKER + "; weakest figure of the table: one public cost script, other tables disagree (0.9765-1.32)",
    ),
    EndpointOffer(
        "aws",
        "ml.p4d.24xlarge",
        "nvidia-a100-40gb",
        8,
        37.688,
        _SAGEMAKER + " (wring.co table of 2026-03-15: $37.69); pre-2025-06 list figure, whether the EC2 P4d cut applies "
        "to SageMaker hosting is not confirmed",
    ),
    EndpointOffer("aws", "ml.m5.xlarge", None, 0, 0.23, _SAGEMAKER),
    EndpointOffer(
        "gcp",
        "g2-standard-8",
        "nvidia-l4",
        1,
        0.98,
        _VERTEX + "as quoted (rounded to cents) by a public cost script, read 2026-11; matches 1.15 x the Compute Engine price",
    ),
    EndpointOffer(
        "gcp",
        "n1-standard-4",
        None,
        0,
        0.219,
        _VERTEX + "as quoted by a public cost mapping verified against that page 2026-06-15, read 2026-11",
    ),
    EndpointOffer("azure", "Standard_NC4as_T4_v3", "nvidia-t4", 1, 0.526, _AZURE_ML),
    EndpointOffer("azure", "Standard_NC24ads_A100_v4", "nvidia-a100-80gb", 1, 3.673, _AZURE_ML),
    EndpointOffer("azure", "Standard_DS3_v2", None, 0, 0.293, _AZURE_ML),
)


@dataclass(frozen=True)
class ServerlessOffer:
    """The price of one serverless invocation slot: per second of compute at a memory size, plus data processed."""

    cloud: Cloud
    memory_mb: int
    per_second_usd: float
    """Compute, per second an invocation runs (billed by the millisecond); nothing while idle."""
    data_per_gb_usd: float
    """Data processed in and out, per GB."""
    source: str


_SAGEMAKER_SERVERLESS = (
    "Amazon SageMaker AI Serverless Inference on-demand, us-east-1 (aws.amazon.com/sagemaker/pricing): compute "
    "$0.0000200 per second per GB of memory, data processed $0.016 per GB in and out, as quoted by public cost tables "
    "and an AWS serverless-inference cost sample in 2025-2026, read 2026-11; provisioned concurrency (not used) bills differently"
)

SERVERLESS_OFFERS: tuple[ServerlessOffer, ...] = (
    ServerlessOffer("aws", 1024, 0.00002, 0.016, _SAGEMAKER_SERVERLESS),
    ServerlessOffer("aws", 2048, 0.00004, 0.016, _SAGEMAKER_SERVERLESS),
    ServerlessOffer("aws", 3072, 0.00006, 0.016, _SAGEMAKER_SERVERLESS),
    ServerlessOffer("aws", 4096, 0.00008, 0.016, _SAGEMAKER_SERVERLESS),
    ServerlessOffer("aws", 5120, 0.0001, 0.016, _SAGEMAKER_SERVERLESS),
    ServerlessOffer("aws", 6144, 0.00012, 0.016, _SAGEMAKER_SERVERLESS),
)
"""SageMaker serverless inference, one row per memory size it offers. Vertex AI and Azure ML have no serverless
option for custom containers (see the endpoint capability matrix)."""


def serverless_offer(cloud: str, memory_mb: int) -> ServerlessOffer | None:
    """The serverless price row of a memory size; None if the cloud has none."""
    return next((s for s in SERVERLESS_OFFERS if s.cloud == cloud and s.memory_mb == memory_mb), None)


def endpoint_offer(cloud: str, instance_type: str) -> EndpointOffer | None:
    """The endpoint price row of an instance type; None if the table has none."""
    return next((e for e in ENDPOINT_OFFERS if e.cloud == cloud and e.instance_type == instance_type), None)


def hourly_price(cloud: str, instance_type: str, capacity: str = "on_demand") -> float | None:
    """Hourly USD for a node pool instance (capacity 'on_demand' or 'spot'); None if unknown or no spot figure."""
    if capacity not in CAPACITIES:
        raise ValueError(f"capacity must be one of {', '.join(CAPACITIES)}, not {capacity!r}")
    offer = next((o for o in OFFERS if o.cloud == cloud and o.instance_type == instance_type), None)
    if offer is None:
        return None
    return offer.on_demand_hourly_usd if capacity == "on_demand" else offer.spot_hourly_usd


def offered_zones(cloud: str, instance_type: str, region: str) -> tuple[str, ...] | None:
    """The zones of ``region`` that offer ``instance_type`` (empty: the region does not offer it); None where the
    catalog has no availability data (gcp, azure, and AWS regions outside ``AWS_REGIONS``)."""
    from .aws_offerings import AWS_GPU_ZONES, AWS_REGIONS

    if cloud != "aws" or region not in AWS_REGIONS:
        return None
    return AWS_GPU_ZONES.get(instance_type, {}).get(region, ())
