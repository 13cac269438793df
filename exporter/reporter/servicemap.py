"""One small table: the names AWS Health, Cost Explorer and CloudWatch give the same service.

Health says ``EC2``, Cost Explorer ``Amazon Elastic Compute Cloud - Compute`` (and ``EC2 - Other`` for EBS,
NAT and data transfer), CloudWatch ``AWS/EC2``. The reporter puts an open Health event next to a spike or mover
of the same account when the event's service is one of the spike's (:func:`health_matches`), and a CloudWatch
series whose namespace is (:func:`namespace_matches`, :mod:`exporter.reporter.cwcontext`). A service or namespace
the table does not know matches nothing: a wrong context line is worse than none.
"""

from __future__ import annotations

from collections.abc import Mapping

# Health service code → (Cost Explorer services, CloudWatch namespaces)
SERVICES: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "EC2": (("Amazon Elastic Compute Cloud - Compute", "EC2 - Other"), ("AWS/EC2",)),
    "EBS": (("EC2 - Other",), ("AWS/EBS",)),
    "ELASTICLOADBALANCING": (("Amazon Elastic Load Balancing",),
                             ("AWS/ApplicationELB", "AWS/NetworkELB", "AWS/ELB")),
    "S3": (("Amazon Simple Storage Service",), ("AWS/S3",)),
    "RDS": (("Amazon Relational Database Service",), ("AWS/RDS",)),
    "LAMBDA": (("AWS Lambda",), ("AWS/Lambda",)),
    "SAGEMAKER": (("Amazon SageMaker",), ("AWS/SageMaker",)),
    "DYNAMODB": (("Amazon DynamoDB",), ("AWS/DynamoDB",)),
    "CLOUDFRONT": (("Amazon CloudFront",), ("AWS/CloudFront",)),
    "ECS": (("Amazon Elastic Container Service",), ("AWS/ECS",)),
    "EKS": (("Amazon Elastic Container Service for Kubernetes",), ("AWS/EKS",)),
    "ELASTICACHE": (("Amazon ElastiCache",), ("AWS/ElastiCache",)),
    "REDSHIFT": (("Amazon Redshift",), ("AWS/Redshift",)),
    "SQS": (("Amazon Simple Queue Service",), ("AWS/SQS",)),
    "SNS": (("Amazon Simple Notification Service",), ("AWS/SNS",)),
    "KINESIS": (("Amazon Kinesis",), ("AWS/Kinesis",)),
    "APIGATEWAY": (("Amazon API Gateway",), ("AWS/ApiGateway",)),
    "ROUTE53": (("Amazon Route 53",), ("AWS/Route53",)),
    "OPENSEARCH": (("Amazon OpenSearch Service",), ("AWS/ES",)),
    "ES": (("Amazon OpenSearch Service",), ("AWS/ES",)),
    "EFS": (("Amazon Elastic File System",), ("AWS/EFS",)),
    "CLOUDWATCH": (("AmazonCloudWatch",), ()),
}


def ce_services_of_health(code: str | None) -> tuple[str, ...]:
    """The Cost Explorer services of a Health service code (``EC2`` → the two EC2 lines); () when unknown."""
    return SERVICES.get((code or "").strip().upper(), ((), ()))[0]


def ce_services_of_namespace(namespace: str | None) -> tuple[str, ...]:
    """The Cost Explorer services of a CloudWatch namespace (``AWS/EC2`` → the two EC2 lines); () when unknown."""
    out: dict[str, None] = {}
    for services, namespaces in SERVICES.values():
        if namespace in namespaces:
            out.update(dict.fromkeys(services))
    return tuple(out)


def health_matches(health_service: str | None, ce_service: str) -> bool:
    """Whether a Health event of ``health_service`` is about the Cost Explorer service ``ce_service``."""
    return ce_service in ce_services_of_health(health_service)


def namespace_matches(namespace: str | None, ce_service: str) -> bool:
    """Whether a CloudWatch series of ``namespace`` is about the Cost Explorer service ``ce_service``."""
    return ce_service in ce_services_of_namespace(namespace)
