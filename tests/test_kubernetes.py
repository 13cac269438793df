"""deploy/kubernetes/: what `kubectl apply -k` would send, rendered and validated offline, and its wiring.

Rendered with `kubectl kustomize`; the core kinds checked by `kubernetes-validate --strict` (a field the
API does not have, or a kind it has no schema for, is a failure), the Prometheus Operator's kinds by
tests/k8s/validate.mjs (the @kubernetes-models/prometheus-operator models: their JSON schema and their
TypeScript declarations, which reject a misspelt field). Each path is shown to fail on a broken manifest.
The generated PrometheusRules and dashboard ConfigMaps must equal their sources (scripts/gen_k8s.py).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from copy import deepcopy
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.config import load, parse_listen_address
from exporter.config.reporter import load_settings
from scripts import gen_k8s
from tests.conftest import ROOT, missing

DEPLOY = ROOT / "deploy" / "kubernetes"
VALIDATOR = ROOT / "tests" / "k8s" / "validate.mjs"
OPERATOR_API = "monitoring.coreos.com/v1"
# The oldest Kubernetes the manifests are for, and the newest kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.29.0", "1.37.0")
# Labels the Prometheus Operator puts on every target of a ServiceMonitor: a series label of the same name
# would be renamed exported_<name> unless the ServiceMonitor drops the target's.
OPERATOR_TARGET_LABELS = {"namespace", "service", "pod", "container", "endpoint"}
RULES = sorted((ROOT / gen_k8s.RULES).glob("*.yml"))
IMAGE_UID = 10001  # the Dockerfile's `useradd --uid`


class Invalid(Exception):
    """A tool refused the manifests; the message is what it said."""


def run(*args: str | Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], input=stdin, capture_output=True, text=True, timeout=120)


# ------------------------------------------------------------------------------------------------ the tools

def render(directory: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        missing("kubectl not found (Debian package kubernetes-client; scripts/test.sh installs it)")
    done = run(kubectl, "kustomize", directory)
    if done.returncode != 0:
        raise Invalid(done.stderr)
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def validate_core(docs: list[dict[str, Any]], version: str) -> None:
    """kubernetes-validate --strict; it exits 0 on a kind it has no schema for (only a warning), so any line
    but a pass fails, and every document must have passed."""
    try:
        import kubernetes_validate  # noqa: F401 - only whether it is installed
    except ImportError:
        missing("kubernetes-validate not installed (the test extra: pip install -e '.[test]')")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "manifests.yaml"
        path.write_text(yaml.safe_dump_all(docs))
        done = run(sys.executable, "-m", "kubernetes_validate", "--strict", "-k", version, path)
    lines = (done.stdout + done.stderr).splitlines()
    passed = [line for line in lines if line.startswith("INFO ") and " passed for resource " in line]
    if done.returncode != 0 or len(passed) != len(docs) or len(passed) != len(lines):
        raise Invalid("\n".join(line for line in lines if line not in passed) or done.stderr)


def validate_operator(docs: list[dict[str, Any]]) -> None:
    node = shutil.which("node")
    if node is None or not (VALIDATOR.parent / "node_modules" / "@kubernetes-models" / "prometheus-operator").is_dir():
        missing("node or tests/k8s/node_modules not found (Node.js; `npm ci` in tests/k8s: scripts/test.sh runs it)")
    done = run(node, VALIDATOR, stdin=json.dumps(docs))
    if done.returncode != 0 or sum(line.startswith("ok ") for line in done.stdout.splitlines()) != len(docs):
        raise Invalid(done.stderr or done.stdout)


def is_operator_kind(doc: dict[str, Any]) -> bool:
    return doc["apiVersion"] == OPERATOR_API


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    return render(DEPLOY)


def of_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def pod(deployment: dict[str, Any]) -> dict[str, Any]:
    return deployment["spec"]["template"]["spec"]


def container_env(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in pod(deployment)["containers"][0].get("env", [])}


# -------------------------------------------------------------------------------------- validation, offline

@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_core_kinds_pass_kubernetes_validate_strict(rendered, version):
    core = [doc for doc in rendered if not is_operator_kind(doc)]
    assert {doc["kind"] for doc in core} == {"Namespace", "ServiceAccount", "ConfigMap", "Deployment", "Service",
                                             "PersistentVolumeClaim"}
    validate_core(core, version)


def test_the_service_monitors_and_prometheus_rules_pass_the_operators_models(rendered):
    operator = [doc for doc in rendered if is_operator_kind(doc)]
    assert {doc["kind"] for doc in operator} == {"ServiceMonitor", "PrometheusRule"}
    validate_operator(operator)


def test_a_misspelt_field_or_an_unknown_kind_fails_kubernetes_validate(rendered):
    deployment = deepcopy(of_kind(rendered, "Deployment")["aws-ops-exporter"])
    probe = pod(deployment)["containers"][0]["livenessProbe"]
    probe["initialDelaySecond"] = probe.pop("initialDelaySeconds")
    with pytest.raises(Invalid, match="'initialDelaySecond' was unexpected"):
        validate_core([deployment], KUBERNETES_VERSIONS[0])
    no_schema = deepcopy(of_kind(rendered, "Service")["aws-ops-exporter"]) | {"apiVersion": "v2"}
    with pytest.raises(Invalid, match="Couldn't find schema"):
        validate_core([no_schema], KUBERNETES_VERSIONS[0])


def test_a_misspelt_or_mistyped_field_fails_the_operators_models(rendered):
    monitor = deepcopy(of_kind(rendered, "ServiceMonitor")["aws-ops-exporter"])
    monitor["spec"]["endpoints"][0]["intervall"] = monitor["spec"]["endpoints"][0].pop("interval")
    rule = deepcopy(of_kind(rendered, "PrometheusRule")["aws-ops-alerts"])
    alert = rule["spec"]["groups"][0]["rules"][0]
    alert["fore"] = alert.pop("for")
    mistyped = deepcopy(of_kind(rendered, "ServiceMonitor")["aws-ops-reporter"])
    mistyped["spec"]["endpoints"][0]["interval"] = "one minute"
    with pytest.raises(Invalid) as error:
        validate_operator([monitor, rule, mistyped])
    problems = str(error.value).splitlines()
    assert len(problems) == 3
    assert any(re.match(r"document 0 \(ServiceMonitor/aws-ops-exporter\): .*'\"intervall\"' does not exist in type "
                        r"'IEndpoint'", line) for line in problems)
    assert any(re.match(r"document 1 \(PrometheusRule/aws-ops-alerts\): .*'\"fore\"' does not exist in type 'IRule'",
                        line) for line in problems)
    assert any(re.match(r"document 2 \(ServiceMonitor/aws-ops-reporter\): .*/interval must match pattern", line)
               for line in problems)


def test_a_kustomization_naming_a_missing_file_does_not_render(tmp_path):
    broken = tmp_path / "kubernetes"
    shutil.copytree(DEPLOY, broken)
    (broken / "servicemonitors.yaml").unlink()
    with pytest.raises(Invalid, match="servicemonitors.yaml"):
        render(broken)


# --------------------------------------------------------------------------------- generated from the repo

def test_the_generated_manifests_are_up_to_date():
    for path, text in gen_k8s.outputs().items():
        assert path.read_text(encoding="utf-8") == text, f"{path.name} is stale: run python scripts/gen_k8s.py"


def test_a_changed_rules_file_makes_the_committed_prometheus_rule_stale(tmp_path, capsys):
    for part in (gen_k8s.RULES, gen_k8s.DASHBOARDS, "deploy/kubernetes"):
        shutil.copytree(ROOT / part, tmp_path / part)
    assert gen_k8s.main(["--check"], root=tmp_path) == 0
    thresholds = tmp_path / gen_k8s.RULES / "thresholds.yml"
    thresholds.write_text(thresholds.read_text().replace("expr: vector(2)", "expr: vector(3)", 1))
    assert gen_k8s.main(["--check"], root=tmp_path) == 1
    assert capsys.readouterr().err.endswith(": deploy/kubernetes/prometheus-rules.yaml\n")


def test_each_rules_file_is_a_prometheus_rule_with_the_same_groups(rendered):
    rules = {name: doc["spec"] for name, doc in of_kind(rendered, "PrometheusRule").items()}
    assert rules == {gen_k8s.rule_name(path): yaml.safe_load(path.read_text())
                     for path in RULES}


def test_each_dashboard_is_a_config_map_for_grafanas_sidecar(rendered):
    maps = {name: doc for name, doc in of_kind(rendered, "ConfigMap").items()
            if doc["metadata"].get("labels", {}).get("grafana_dashboard") == "1"}
    dashboards = sorted((ROOT / gen_k8s.DASHBOARDS).glob("*.json"))
    assert len(maps) == len(dashboards) == 4
    for path in dashboards:
        data = maps[f"grafana-dashboard-{path.stem}"]["data"]
        assert list(data) == [path.name]
        assert json.loads(data[path.name]) == json.loads(path.read_text())


# ---------------------------------------------------------------------------------------------- the wiring

def test_the_exporter_is_probed_on_its_health_endpoints_at_its_listen_port(rendered, tmp_path, monkeypatch):
    config = rendered_config(rendered, tmp_path, monkeypatch)
    deployment = of_kind(rendered, "Deployment")["aws-ops-exporter"]
    container = pod(deployment)["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": parse_listen_address(config.web.listen_address)[1]}
    assert container["readinessProbe"]["httpGet"] == {"path": "/-/ready", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/-/healthy", "port": "http"}
    assert deployment["spec"]["replicas"] == 1  # two would each collect (and bill) the whole fleet
    service = of_kind(rendered, "Service")["aws-ops-exporter"]
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert [(p["name"], p["targetPort"]) for p in service["spec"]["ports"]] == [("http", "http")]


def test_the_reporter_pulls_the_exporters_service_and_keeps_its_database_on_the_claim(rendered, tmp_path,
                                                                                      monkeypatch):
    settings = load_settings(rendered_config(rendered, tmp_path, monkeypatch).reporter, "config.yaml", {})
    service = of_kind(rendered, "Service")["aws-ops-exporter"]
    assert settings.exporter_urls == (f"http://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}",)
    deployment = of_kind(rendered, "Deployment")["aws-ops-reporter"]
    spec = pod(deployment)
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"] if "persistentVolumeClaim" in v}
    mounts = {m["mountPath"]: m["name"] for m in spec["containers"][0]["volumeMounts"]}
    assert claims[mounts[str(Path(settings.database).parent)]] in of_kind(rendered, "PersistentVolumeClaim")
    # One writer to SQLite; a ReadWriteOnce claim cannot be held by an old and a new pod on two nodes.
    assert (deployment["spec"]["replicas"], deployment["spec"]["strategy"]["type"]) == (1, "Recreate")
    ports = {p["name"]: p["containerPort"] for p in spec["containers"][0]["ports"]}
    assert ports == {"http": parse_listen_address(settings.listen_address)[1]}


def test_every_secret_the_config_names_comes_from_a_secret_reference(rendered, tmp_path, monkeypatch):
    """The config names its secrets by environment variable; with the reporter's commented llm and chat
    lines uncommented (what its comment says to do), both processes find every one in their Deployment."""
    exporter_env = container_env(of_kind(rendered, "Deployment")["aws-ops-exporter"])
    reporter_env = container_env(of_kind(rendered, "Deployment")["aws-ops-reporter"])
    for env in (*exporter_env.values(), *reporter_env.values()):
        assert set(env) == {"name", "valueFrom"} and set(env["valueFrom"]) == {"secretKeyRef"}, env
    head, marker, tail = config_map_text(rendered).partition("uncomment what you use.\n")
    uncommented = head + marker + re.sub(r"(?m)^  # ", "  ", tail)
    assert marker and uncommented != head + marker + tail
    for name in exporter_env:
        monkeypatch.setenv(name, "test-external-id")
    path = tmp_path / "config.yaml"
    path.write_text(uncommented)
    config = load(path)
    fake = {name: "https://chat.example/hook" for name in reporter_env}
    settings = load_settings(config.reporter, str(path), fake)
    assert settings.llm is not None and settings.llm.api_key_env in reporter_env
    assert {c.webhook_url_env for c in settings.chat} == set(reporter_env) - {settings.llm.api_key_env}
    external_id_env = yaml.safe_load(uncommented)["organization"]["external_id_env"]
    assert config.organization.external_id == "test-external-id"
    # Without it the exporter cannot start at all: the pod waits for the Secret rather than exit 2 in a loop.
    assert exporter_env[external_id_env]["valueFrom"]["secretKeyRef"].get("optional") is not True


def test_the_scrape_jobs_are_the_ones_the_rules_and_dashboards_select(rendered):
    services = of_kind(rendered, "Service")
    jobs = set()
    for monitor in of_kind(rendered, "ServiceMonitor").values():
        spec = monitor["spec"]
        [service] = [s for s in services.values()
                     if spec["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()]
        jobs.add(service["metadata"]["labels"][spec["jobLabel"]])
        assert {e["port"] for e in spec["endpoints"]} <= {p["name"] for p in service["spec"]["ports"]}
    sources = [p.read_text() for p in (*RULES, *(ROOT / gen_k8s.DASHBOARDS).glob("*.json"))]
    selected = {job for text in sources for job in re.findall(r'job=\\?"([^"\\]+)', text)}
    assert selected == {"aws-ops-exporter"} and selected <= jobs


def test_no_label_the_rules_use_is_shadowed_by_an_operator_target_label(rendered):
    used = set()
    for path in RULES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                for clause in re.findall(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)",
                                         rule["expr"]):
                    used |= {label.strip() for label in clause.split(",") if label.strip()}
                for matchers in re.findall(r"\{([^{}]*)\}", rule["expr"]):
                    used |= set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", matchers))
    assert "service" in used  # the AWS service, on the exporter's own series
    endpoint = of_kind(rendered, "ServiceMonitor")["aws-ops-exporter"]["spec"]["endpoints"][0]
    dropped = {label for r in endpoint.get("relabelings", []) if r.get("action") == "labeldrop"
               for label in OPERATOR_TARGET_LABELS if re.fullmatch(r["regex"], label)}
    assert not endpoint.get("honorLabels")
    assert (used & OPERATOR_TARGET_LABELS) - dropped == set()


def test_the_pods_run_as_the_restricted_pod_security_standard_asks(rendered):
    [namespace] = of_kind(rendered, "Namespace").values()
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for deployment in of_kind(rendered, "Deployment").values():
        assert deployment["metadata"]["namespace"] == namespace["metadata"]["name"]
        security = pod(deployment)["securityContext"]
        assert security["runAsNonRoot"] is True and security["runAsUser"] == IMAGE_UID
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in pod(deployment)["containers"]:
            assert container["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                                    "capabilities": {"drop": ["ALL"]}}
            resources = container["resources"]
            assert {"cpu", "memory"} <= resources["requests"].keys() and "memory" in resources["limits"]
            writable = {m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")}
            assert "/tmp" in writable
    assert f"--uid {IMAGE_UID}" in (ROOT / "Dockerfile").read_text()


def test_the_exporter_runs_as_a_service_account_with_an_irsa_role(rendered):
    account = pod(of_kind(rendered, "Deployment")["aws-ops-exporter"])["serviceAccountName"]
    annotations = of_kind(rendered, "ServiceAccount")[account]["metadata"]["annotations"]
    assert re.fullmatch(r"arn:aws:iam::\d{12}:role/[\w+=,.@/-]+", annotations["eks.amazonaws.com/role-arn"])


def test_the_image_tag_is_the_packages_version():
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert kustomization["images"] == [{"name": "aws-ops-exporter", "newTag": version}]


def test_the_readmes_overlay_sets_the_image_the_role_the_config_and_the_operator_label(tmp_path):
    kubectl = shutil.which("kubectl") or missing("kubectl not found (Debian package kubernetes-client)")
    kustomize = re.search(r"Kustomize Version: v(\d+)", run(kubectl, "version", "--client").stdout)
    if kustomize is None or int(kustomize.group(1)) < 4:
        missing("this kubectl's kustomize predates `patches:` (the README's overlay needs kubectl 1.21 or later)")
    overlay = re.search(r"```yaml\n(# overlay/kustomization.yaml\n.*?)```", (ROOT / "README.md").read_text(), re.S)
    shutil.copytree(DEPLOY, tmp_path / "deploy" / "kubernetes")
    (tmp_path / "overlay").mkdir()
    (tmp_path / "overlay" / "kustomization.yaml").write_text(overlay.group(1))
    config = (DEPLOY / "config.yaml").read_text().replace("timezone: UTC", "timezone: Asia/Seoul")
    (tmp_path / "overlay" / "config.yaml").write_text(config)
    docs = render(tmp_path / "overlay")
    images = {c["image"] for d in of_kind(docs, "Deployment").values() for c in pod(d)["containers"]}
    assert images == {"registry.example.com/aws-ops-exporter:0.1.0"}
    role = of_kind(docs, "ServiceAccount")["aws-ops-exporter"]["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    assert role == "arn:aws:iam::123456789012:role/aws-ops-exporter"
    assert config_map_text(docs) == config
    operator = [doc for doc in docs if is_operator_kind(doc)]
    assert len(operator) == 5 and all(d["metadata"]["labels"]["release"] == "kube-prometheus-stack" for d in operator)


# --------------------------------------------------------------------------------------------------- helpers

def config_map_text(rendered: list[dict[str, Any]]) -> str:
    [config_map] = [doc for name, doc in of_kind(rendered, "ConfigMap").items() if name.startswith("aws-ops-config-")]
    for deployment in of_kind(rendered, "Deployment").values():
        volumes = {v["name"]: v for v in pod(deployment)["volumes"]}
        assert volumes["config"]["configMap"]["name"] == config_map["metadata"]["name"]
        args = pod(deployment)["containers"][0]["args"]
        mount = {m["name"]: m["mountPath"] for m in pod(deployment)["containers"][0]["volumeMounts"]}["config"]
        assert args[args.index("--config") + 1] == f"{mount}/config.yaml"
    assert list(config_map["data"]) == ["config.yaml"]
    return config_map["data"]["config.yaml"]


def rendered_config(rendered: list[dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for name in container_env(of_kind(rendered, "Deployment")["aws-ops-exporter"]):
        monkeypatch.setenv(name, "test-external-id")
    path = tmp_path / "config.yaml"
    path.write_text(config_map_text(rendered))
    return load(path)


# -------------------------------------------------------------------------------------- the shards' overlay

def test_the_shards_overlay_runs_one_pod_per_shard_each_given_its_ordinal():
    docs = render(DEPLOY.parent / "kubernetes-shards")
    core = [doc for doc in docs if not is_operator_kind(doc)]
    assert "aws-ops-exporter" not in of_kind(core, "Deployment")
    shards = of_kind(core, "StatefulSet")["aws-ops-exporter"]
    replicas = shards["spec"]["replicas"]
    args = pod(shards)["containers"][0]["args"]
    assert replicas > 1 and args[-2:] == ["--shard", f"$(POD_INDEX)/{replicas}"]
    assert container_env(shards)["POD_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"] == \
        "metadata.labels['apps.kubernetes.io/pod-index']"
    assert shards["spec"]["serviceName"] in of_kind(core, "Service")
    validate_core(core, KUBERNETES_VERSIONS[-1])
