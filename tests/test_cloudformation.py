"""deploy/cloudformation/: cfn-lint finds nothing in either template, and what an account owner relies on holds:
only the exporter's principal may assume a role, and only with the ExternalId; each Enable* parameter grants
exactly the actions of its feature and nothing else (all "false": nothing at all); no wildcard action; no
hard-coded partition.

The templates are read with a YAML loader that turns CloudFormation's short forms (!Ref, !Sub, !If, …) into
their long forms, and the conditions are evaluated for chosen parameter values, as CloudFormation would.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, missing

TEMPLATES = ROOT / "deploy" / "cloudformation"
MEMBER = TEMPLATES / "member-role.yaml"
MANAGEMENT = TEMPLATES / "management-role.yaml"

# Each feature parameter and the actions it must grant, exactly.
FEATURES: dict[Path, dict[str, set[str]]] = {
    MEMBER: {
        "EnableCostPerAccount": {"ce:GetCostAndUsage"},
        "EnableCostSignalsPerAccount": {"ce:GetAnomalies", "ce:GetCostForecast"},
        "EnableHealthPerAccount": {"health:DescribeEvents", "health:DescribeEventDetails",
                                   "health:DescribeEntityAggregates", "health:DescribeAffectedEntities"},
        "EnableCloudWatchPerAccount": {"cloudwatch:GetMetricData", "cloudwatch:ListMetrics"},
    },
    MANAGEMENT: {
        "EnableDiscovery": {"organizations:ListAccounts", "organizations:ListTagsForResource",
                            "organizations:ListParents", "organizations:ListOrganizationalUnitsForParent",
                            "organizations:DescribeOrganization"},
        "EnablePayerCost": {"ce:GetCostAndUsage"},
        "EnablePayerCostSignals": {"ce:GetAnomalies", "ce:GetCostForecast"},
        "EnableOrganizationHealth": {"health:DescribeEventsForOrganization",
                                     "health:DescribeAffectedAccountsForOrganization",
                                     "health:DescribeEntityAggregatesForOrganization",
                                     "health:DescribeEventDetailsForOrganization"},
        "EnableMonitoringAccount": {"cloudwatch:GetMetricData", "cloudwatch:ListMetrics", "oam:ListSinks",
                                    "oam:ListAttachedLinks"},
    },
}
DEFAULT_ROLE_NAMES = {MEMBER: "ops-exporter", MANAGEMENT: "aws-ops-exporter-org"}
# Values for the parameters without a default (never sent anywhere: the templates are only read).
REQUIRED = {"ExporterPrincipalArn": "arn:aws:iam::999999999999:role/aws-ops-exporter", "ExternalId": "test-id"}
# One region of each partition: the same template must lint clean in all three.
LINT_REGIONS = ("us-east-1", "us-gov-west-1", "cn-north-1")

template_paths = pytest.mark.parametrize("path", [MEMBER, MANAGEMENT], ids=lambda p: p.name)


# ------------------------------------------------------------------------------------------ reading a template

class _CfnLoader(yaml.SafeLoader):
    """Safe YAML plus CloudFormation's short-form tags, each read as its long form."""


def _short_form(loader: _CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    key = suffix if suffix in {"Ref", "Condition"} else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {key: value}


_CfnLoader.add_multi_constructor("!", _short_form)


def load(path: Path) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 (a SafeLoader subclass)


def _role(template: dict[str, Any]) -> dict[str, Any]:
    [role] = [r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Role"]
    return role["Properties"]


# ------------------------------------------------------------------------------ deploying it, as CloudFormation would

_NO_VALUE = object()


def _parameters(template: dict[str, Any], **values: str) -> dict[str, str]:
    params = {name: p["Default"] for name, p in template["Parameters"].items() if "Default" in p}
    unknown = set(values) - set(template["Parameters"])
    assert not unknown, f"not parameters of the template: {unknown}"
    return {**params, **REQUIRED, **values}


def _conditions(template: dict[str, Any], params: dict[str, str]) -> dict[str, bool]:
    raw = template.get("Conditions", {})
    done: dict[str, bool] = {}

    def value(node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        [(key, arg)] = node.items()
        if key == "Ref":
            return params[arg]
        if key == "Condition":
            return condition(arg)
        if key == "Fn::Equals":
            return value(arg[0]) == value(arg[1])
        if key == "Fn::Not":
            return not value(arg[0])
        if key == "Fn::And":
            return all(value(a) for a in arg)
        if key == "Fn::Or":
            return any(value(a) for a in arg)
        raise AssertionError(f"this test cannot evaluate {key} in a condition")

    def condition(name: str) -> bool:
        if name not in done:
            done[name] = bool(value(raw[name]))
        return done[name]

    return {name: condition(name) for name in raw}


def _resolve(node: Any, conditions: dict[str, bool]) -> Any:
    """Fn::If picked and AWS::NoValue dropped, everything else as written."""
    if isinstance(node, list):
        items = (_resolve(item, conditions) for item in node)
        return [item for item in items if item is not _NO_VALUE]
    if isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            name, if_true, if_false = node["Fn::If"]
            return _resolve(if_true if conditions[name] else if_false, conditions)
        if node == {"Ref": "AWS::NoValue"}:
            return _NO_VALUE
        items = ((key, _resolve(value, conditions)) for key, value in node.items())
        return {key: value for key, value in items if value is not _NO_VALUE}
    return node


def deployed(path: Path, **values: str) -> dict[str, Any]:
    """The template's resources as a stack with these parameter values would have them."""
    template = load(path)
    conditions = _conditions(template, _parameters(template, **values))
    live = {name: r for name, r in template["Resources"].items() if conditions.get(r.get("Condition"), True)}
    return _resolve({"Resources": live}, conditions)["Resources"]


def granted(resources: dict[str, Any]) -> set[str]:
    """Every action an Allow statement of the stack's IAM policies names (its roles' only permissions)."""
    actions: set[str] = set()
    for resource in resources.values():
        props = resource.get("Properties", {})
        assert not props.get("ManagedPolicyArns"), "a managed policy's permissions cannot be checked here"
        if resource["Type"] == "AWS::IAM::Role":
            documents = [policy["PolicyDocument"] for policy in props.get("Policies", [])]
        elif resource["Type"] in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"}:
            documents = [props["PolicyDocument"]]
        else:
            continue
        for document in documents:
            for statement in document["Statement"]:
                assert statement["Effect"] == "Allow", statement
                action = statement["Action"]
                actions.update([action] if isinstance(action, str) else action)
    return actions


def _all(path: Path, value: str) -> dict[str, str]:
    return {name: value for name in FEATURES[path]}


def _statements(node: Any) -> Iterator[dict[str, Any]]:
    """Every policy statement in the template, on every branch of every Fn::If."""
    if isinstance(node, dict):
        if "Statement" in node:
            yield from node["Statement"]
        for value in node.values():
            yield from _statements(value)
    elif isinstance(node, list):
        for item in node:
            yield from _statements(item)


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


# --------------------------------------------------------------------------------------------------- cfn-lint

def _cfn_lint(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """cfn-lint (a test extra) through its console script's entry point; fails under CI, skips elsewhere."""
    if importlib.util.find_spec("cfnlint") is None:
        missing("cfn-lint is missing: pip install -e '.[test]' (scripts/test.sh does)")
    return subprocess.run([sys.executable, "-c", "from cfnlint.runner import main; main()",
                           "--format", "json", "--include-checks", "I", "--regions", *LINT_REGIONS,
                           "--", *map(str, args)], capture_output=True, text=True, timeout=180)


@template_paths
def test_cfn_lint_finds_nothing(path):
    result = _cfn_lint(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == [], result.stdout


def test_cfn_lint_checks_the_iam_action_names(tmp_path):
    """The clean result means something: a misspelt action is a finding."""
    broken = tmp_path / MEMBER.name
    broken.write_text(MEMBER.read_text().replace("- ce:GetCostAndUsage", "- ce:GetCostAndUsages", 1))
    result = _cfn_lint(broken)
    assert result.returncode != 0, result.stdout + result.stderr
    assert any("'getcostandusages' is not one of" in finding["Message"] for finding in json.loads(result.stdout))


# ------------------------------------------------------------------------------------------- who may assume it

@template_paths
def test_only_the_exporter_principal_may_assume_the_role_and_only_with_the_external_id(path):
    template = load(path)
    role = _role(template)
    assert role["AssumeRolePolicyDocument"]["Statement"] == [{
        "Sid": "ExporterWithExternalId",
        "Effect": "Allow",
        "Principal": {"AWS": {"Ref": "ExporterPrincipalArn"}},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": {"Ref": "ExternalId"}}},
    }]
    external_id = template["Parameters"]["ExternalId"]
    assert "Default" not in external_id
    assert external_id["NoEcho"] is True and external_id["MinLength"] == 2
    assert external_id["AllowedPattern"] == r"[\w+=,.@:/-]*"  # AWS's ExternalId characters
    assert "Default" not in template["Parameters"]["ExporterPrincipalArn"]


@template_paths
def test_role_name_session_length_and_output(path):
    template = load(path)
    [(logical_id, _)] = template["Resources"].items()
    role = _role(template)
    assert template["Parameters"]["RoleName"]["Default"] == DEFAULT_ROLE_NAMES[path]
    assert role["RoleName"] == {"Ref": "RoleName"}
    assert role["MaxSessionDuration"] == 3600
    assert template["Outputs"]["RoleArn"]["Value"] == {"Fn::GetAtt": [logical_id, "Arn"]}


def test_the_member_template_says_which_config_key_points_at_it():
    description = load(MEMBER)["Description"]
    assert 'organization.member_role_arn: "arn:aws:iam::{account_id}:role/ops-exporter"' in description
    assert "StackSet" in description


# ------------------------------------------------------------------------------------------ what it may do

@template_paths
def test_with_every_feature_off_the_role_may_do_nothing(path):
    resources = deployed(path, **_all(path, "false"))
    assert granted(resources) == set()
    [resource] = resources.values()
    assert resource["Properties"].get("Policies", []) == []
    assert "ManagedPolicyArns" not in resource["Properties"]


@pytest.mark.parametrize(("path", "feature"), [(path, feature) for path, features in FEATURES.items()
                                               for feature in features], ids=lambda v: getattr(v, "name", v))
def test_each_feature_grants_exactly_its_actions(path, feature):
    resources = deployed(path, **{**_all(path, "false"), feature: "true"})
    assert granted(resources) == FEATURES[path][feature]


@template_paths
def test_every_feature_on_grants_the_union_and_nothing_more(path):
    assert granted(deployed(path, **_all(path, "true"))) == set().union(*FEATURES[path].values())


def test_defaults_match_the_exporter_defaults():
    # Every collector runs per account unless configured otherwise; organization mode itself is discovery.
    # Cost anomalies and the forecast are off unless configured.
    assert granted(deployed(MEMBER)) == set().union(*FEATURES[MEMBER].values()) - {"ce:GetAnomalies",
                                                                                  "ce:GetCostForecast"}
    assert granted(deployed(MANAGEMENT)) == FEATURES[MANAGEMENT]["EnableDiscovery"]


@template_paths
def test_feature_parameters_take_true_or_false(path):
    parameters = load(path)["Parameters"]
    assert {name for name in parameters if name.startswith("Enable")} == set(FEATURES[path])
    for name in FEATURES[path]:
        assert parameters[name]["AllowedValues"] == ["true", "false"], name


@template_paths
def test_no_statement_allows_a_wildcard_action(path):
    statements = list(_statements(load(path)["Resources"]))
    assert len(statements) > len(FEATURES[path])  # the trust policy and every feature's, on every branch
    for statement in statements:
        assert "NotAction" not in statement and "NotResource" not in statement, statement
        actions = statement["Action"]
        for action in [actions] if isinstance(actions, str) else actions:
            assert "*" not in action and "?" not in action, statement


# ------------------------------------------------------------------------------------------------- partitions

@template_paths
def test_no_hard_coded_partition(path):
    template = load(path)
    # The top-level Description quotes the exporter's config (an example ARN for the reader); it is no ARN.
    lines, in_description = [], False
    for line in path.read_text().splitlines():
        if line and not line[0].isspace():
            in_description = line.startswith("Description:")
        if not in_description:
            lines.append(line)
    assert "arn:aws:" not in "\n".join(lines)
    arns = [s for s in _strings({k: v for k, v in template.items() if k != "Description"}) if "arn:" in s]
    for arn in arns:
        assert "arn:${AWS::Partition}:" in arn or arn.startswith("arn:aws[a-z-]*:"), arn
