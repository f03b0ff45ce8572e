"""EKS adapter: a managed node group on the NVIDIA EKS-optimized image."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pulumi
import pulumi_aws as aws

from ..catalog.aws_partitions import partition
from ..catalog.offers import InstanceOffer, offers
from ..pool_wiring import EFFECTS, PoolWiring

if TYPE_CHECKING:
    from .pool import GpuNodePoolArgs

AMI_TYPES = {"al2023": "AL2023_x86_64_NVIDIA", "bottlerocket": "BOTTLEROCKET_x86_64_NVIDIA"}
"""EKS AMI types of the NVIDIA images: the driver and container toolkit are on the image."""


NODE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryReadOnly", "AmazonEKS_CNI_Policy", "AmazonSSMManagedInstanceCore")
"""AWS managed policies a node needs: join the cluster, pull images, run the VPC CNI, be reachable by SSM."""


def node_pool(
    name: str, args: GpuNodePoolArgs, offer: InstanceOffer, wiring: PoolWiring, opts: pulumi.ResourceOptions
) -> pulumi.CustomResource:
    """Node role, launch template (encrypted gp3 disk, IMDSv2) and the node group."""
    pool = args.pool
    region = args.cloud.region or ""
    # look-ups use the provider the pool inherits from its opts, like its resources
    invoke = pulumi.InvokeOutputOptions(parent=opts.parent)
    role = aws.iam.Role(
        f"{name}-node-role",
        assume_role_policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
            }
        ),
        description=f"Nodes of GPU pool {pool.name}",
        opts=opts,
    )
    attachments = [
        aws.iam.RolePolicyAttachment(
            f"{name}-{policy.lower().replace('_', '-')}",
            role=role.name,
            policy_arn=f"arn:{partition(region)}:iam::aws:policy/{policy}",
            opts=opts,
        )
        for policy in NODE_POLICIES
    ]
    image = pool.node_image or "al2023"
    # Bottlerocket keeps images and model caches on its second (data) volume.
    device = "/dev/xvdb" if image == "bottlerocket" else "/dev/xvda"
    template = aws.ec2.LaunchTemplate(
        f"{name}-lt",
        description=f"Disk and metadata settings of GPU pool {pool.name}",
        block_device_mappings=[
            aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                device_name=device,
                ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                    volume_size=pool.disk_gb, volume_type="gp3", encrypted="true", delete_on_termination="true"
                ),
            )
        ],
        metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
            http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1
        ),
        tag_specifications=[
            aws.ec2.LaunchTemplateTagSpecificationArgs(
                resource_type=kind, tags={**args.tags, "Name": pulumi.Output.concat(args.cluster_name, "-", pool.name)}
            )
            for kind in ("instance", "volume")
        ],
        update_default_version=True,
        opts=opts,
    )
    cluster = aws.eks.get_cluster_output(name=args.cluster_name, opts=invoke)
    zones = list(pool.zones)

    def subnet_filters(cluster_subnets: list[str]) -> list[aws.ec2.GetSubnetsFilterArgs]:
        """The cluster's private subnets (tagged for internal load balancers), in the pool's zones."""
        filters = [
            aws.ec2.GetSubnetsFilterArgs(name="subnet-id", values=cluster_subnets),
            aws.ec2.GetSubnetsFilterArgs(name="tag:kubernetes.io/role/internal-elb", values=["1"]),
        ]
        if zones:
            filters.append(aws.ec2.GetSubnetsFilterArgs(name="availability-zone", values=zones))
        return filters

    subnets = aws.ec2.get_subnets_output(filters=cluster.vpc_config.subnet_ids.apply(subnet_filters), opts=invoke)
    # Spot capacity is diversified over every instance type with the same GPUs per node.
    same_shape = [o.instance_type for o in offers("aws", pool.gpu_type) if o.gpus == pool.gpus_per_node]
    instance_types = same_shape if pool.capacity == "spot" else [offer.instance_type]
    return aws.eks.NodeGroup(
        f"{name}-ng",
        cluster_name=args.cluster_name,
        node_role_arn=role.arn,
        subnet_ids=subnets.ids,
        ami_type=AMI_TYPES[image],
        capacity_type="SPOT" if pool.capacity == "spot" else "ON_DEMAND",
        instance_types=instance_types,
        scaling_config=aws.eks.NodeGroupScalingConfigArgs(
            min_size=pool.min_nodes, max_size=pool.max_nodes, desired_size=pool.initial_nodes
        ),
        labels=wiring.node_labels,
        taints=[aws.eks.NodeGroupTaintArgs(key=t.key, value=t.value, effect=EFFECTS[t.effect]) for t in pool.taints],
        launch_template=aws.eks.NodeGroupLaunchTemplateArgs(id=template.id, version=template.latest_version.apply(str)),
        update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
        tags={**args.tags, "mlops-gpu-pool": pool.name},
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(depends_on=attachments, ignore_changes=["scalingConfig.desiredSize"])
        ),
    )
