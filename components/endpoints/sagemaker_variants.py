"""The variants of a SageMaker endpoint: their names, the model each serves and its share of the traffic."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from ..config.endpoints import CandidateVersion, ManagedEndpointConfig

LIVE, CANARY, SHADOW = "live", "canary", "shadow"
"""Variant names. Blue/green deployments need the same variant names in the old and new configuration."""


def container(uri: str, image: str) -> aws.sagemaker.ModelPrimaryContainerArgs:
    """A packaged model (.tar.gz) by URL; an uncompressed model by S3 prefix."""
    if uri.endswith(".tar.gz"):
        return aws.sagemaker.ModelPrimaryContainerArgs(image=image, model_data_url=uri, mode="SingleModel")
    return aws.sagemaker.ModelPrimaryContainerArgs(
        image=image,
        mode="SingleModel",
        model_data_source=aws.sagemaker.ModelPrimaryContainerModelDataSourceArgs(
            s3_data_sources=[
                aws.sagemaker.ModelPrimaryContainerModelDataSourceS3DataSourceArgs(
                    s3_uri=uri.rstrip("/") + "/", s3_data_type="S3Prefix", compression_type="None"
                )
            ]
        ),
    )


def models(
    name: str, cfg: ManagedEndpointConfig, role_arn: pulumi.Input[str], tags: dict[str, str], opts: pulumi.ResourceOptions
) -> dict[str, aws.sagemaker.Model]:
    """One model per variant, the live one first, in the endpoint's VPC when it is private."""
    vpc = (
        aws.sagemaker.ModelVpcConfigArgs(subnets=cfg.network.subnet_ids, security_group_ids=cfg.network.security_group_ids)
        if cfg.network.private
        else None
    )

    def model(role_name: str, uri: str, image: str) -> aws.sagemaker.Model:
        # Auto-named: a new artifact or image replaces the model (create first), never updates it in place.
        return aws.sagemaker.Model(
            f"{name}-model-{role_name}",
            execution_role_arn=role_arn,
            primary_container=container(uri, image),
            enable_network_isolation=cfg.network.private,
            vpc_config=vpc,
            tags={**tags, "mlops-variant": role_name},
            opts=opts,
        )

    built = {LIVE: model(LIVE, cfg.model_uri, cfg.image)}
    candidates: dict[str, CandidateVersion] = cfg.candidates
    for role_name, candidate in candidates.items():
        built[role_name] = model(role_name, candidate.model_uri, candidate.image or cfg.image)
    return built


def variant(variant_name: str, model: aws.sagemaker.Model, cfg: ManagedEndpointConfig, instances: int, weight: float) -> dict[str, Any]:
    """The arguments of one production (or shadow) variant: serverless, or instances with least-outstanding routing."""
    if cfg.serverless is not None:
        return {
            "variant_name": variant_name,
            "model_name": model.name,
            "initial_variant_weight": weight,
            "serverless_config": aws.sagemaker.EndpointConfigurationProductionVariantServerlessConfigArgs(
                memory_size_in_mb=cfg.serverless.memory_mb, max_concurrency=cfg.serverless.max_concurrency
            ),
        }
    return {
        "variant_name": variant_name,
        "model_name": model.name,
        "instance_type": cfg.instance_type,
        "initial_instance_count": instances,
        "initial_variant_weight": weight,
        "routing_configs": [
            aws.sagemaker.EndpointConfigurationProductionVariantRoutingConfigArgs(routing_strategy="LEAST_OUTSTANDING_REQUESTS")
        ],
    }


def production_variants(
    cfg: ManagedEndpointConfig, built: dict[str, aws.sagemaker.Model]
) -> tuple[
    list[aws.sagemaker.EndpointConfigurationProductionVariantArgs], list[aws.sagemaker.EndpointConfigurationShadowProductionVariantArgs]
]:
    """The live variant (and the canary, with its share of the traffic), and the shadow that gets a copy of requests."""
    canary_weight = cfg.canary.percent / 100 if cfg.canary else 0.0
    variants = [variant(LIVE, built[LIVE], cfg, max(cfg.instances.min, 1), round(1.0 - canary_weight, 4))]
    if cfg.canary is not None:
        variants.append(variant(CANARY, built[CANARY], cfg, cfg.canary.instances, canary_weight))
    shadows = []
    if cfg.shadow is not None:
        # The shadow's weight relative to the production variant's (1.0) is the share of requests copied to it.
        shadows.append(
            aws.sagemaker.EndpointConfigurationShadowProductionVariantArgs(
                **variant(SHADOW, built[SHADOW], cfg, cfg.shadow.instances, cfg.shadow.percent / 100)
            )
        )
    return [aws.sagemaker.EndpointConfigurationProductionVariantArgs(**v) for v in variants], shadows
