"""Where AWS answers for a partition, from botocore's own endpoint data: Cost Explorer's signing region, the STS
endpoint that assumes a role, the partition of a region. Pure look-ups (cached per process), no clients."""

from __future__ import annotations

import functools
import re

import botocore.session


def cost_explorer_region(role_arn: str) -> str:
    """The region Cost Explorer's single endpoint signs for in the role's partition (botocore's endpoint
    data: us-east-1 in aws, cn-northwest-1 in aws-cn); a partition without Cost Explorer is a clear error."""
    return _cost_explorer_region(role_arn.split(":")[1])


@functools.lru_cache(maxsize=None)
def _cost_explorer_region(partition: str) -> str:
    """Per partition, once: reading botocore's endpoint data takes ~70 ms, and this runs per account."""
    for data in botocore.session.get_session().get_data("endpoints")["partitions"]:
        if data["partition"] == partition:
            service = data["services"].get("ce", {})
            endpoint = service.get("endpoints", {}).get(service.get("partitionEndpoint", ""), {})
            region = endpoint.get("credentialScope", {}).get("region")
            if region:
                return region
    raise ValueError(f"Cost Explorer has no endpoint in the {partition} partition")


# Where STS answers when the main region is in another partition than the role (and no region was asked).
PARTITION_HOME_REGIONS = {"aws": "us-east-1", "aws-cn": "cn-north-1", "aws-us-gov": "us-gov-west-1"}


def sts_region(role_arn: str, region: str) -> str:
    """The region whose STS endpoint assumes ``role_arn``: the main region when it is in the role's partition
    (sts.eu-west-1.amazonaws.com), else the partition's home region (sts.cn-north-1.amazonaws.com.cn for an
    aws-cn role): STS only assumes roles of its own partition."""
    partition = role_arn.split(":")[1] if role_arn.count(":") >= 2 else "aws"
    if region_partition(region) == partition:
        return region
    return PARTITION_HOME_REGIONS.get(partition) or _first_region(partition) or region


@functools.lru_cache(maxsize=None)
def region_partition(region: str) -> str:
    """The partition a region belongs to, from botocore's endpoint data (a region it does not list yet is
    matched by its partition's pattern: cn-*, us-gov-*, …)."""
    partitions = botocore.session.get_session().get_data("endpoints")["partitions"]
    for data in partitions:
        if region in data.get("regions", {}):
            return str(data["partition"])
    for data in partitions:
        if data["partition"] != "aws" and re.match(data.get("regionRegex", "$^"), region):
            return str(data["partition"])
    return "aws"


@functools.lru_cache(maxsize=None)
def _first_region(partition: str) -> str | None:
    for data in botocore.session.get_session().get_data("endpoints")["partitions"]:
        if data["partition"] == partition and data.get("regions"):
            return str(sorted(data["regions"])[0])
    return None
