"""The deployment files stay valid and in step with the code.

``compose.yaml`` is checked against the Compose Specification schema (check-jsonschema's vendored
copy, no network), and compose.yaml and deploy/k8s/ against ``shared.settings``: service names,
ports, commands and ``KEHU_*`` variable names.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from shared.settings import DEFAULT_PORTS, SERVICES, Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "compose.yaml"
K8S = ROOT / "deploy" / "k8s"
DOCKERFILE = ROOT / "Dockerfile"

# Read by `kehu serve`, not by Settings.
NOT_SETTINGS = {"KEHU_PORT"}
# What the image runs: the four services and the console.
PORTS = {**DEFAULT_PORTS, "console": Settings.model_fields["console_port"].default}


def _yaml() -> YAML:
    return YAML(typ="safe", pure=True)


def _load(path: Path) -> Any:
    return _yaml().load(path.read_text(encoding="utf-8"))


def _check_jsonschema_command() -> list[str]:
    probe = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--version"], capture_output=True, text=True, check=False
    )
    if probe.returncode == 0:
        return [sys.executable, "-m", "check_jsonschema"]
    script = Path(sys.executable).with_name("check-jsonschema")
    if script.exists():
        return [str(script)]
    found = shutil.which("check-jsonschema")
    if found:
        return [found]
    pytest.fail(f"check-jsonschema is not installed for {sys.executable}: {probe.stderr}")


def _validate_compose(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_check_jsonschema_command(), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=120,
    )


def _settings_env_names() -> set[str]:
    return {f"KEHU_{name.upper()}" for name in Settings.model_fields}


def _compose_services() -> dict[str, Any]:
    return _load(COMPOSE)["services"]


# --- compose.yaml ------------------------------------------------------------------------------


def test_compose_matches_the_compose_specification() -> None:
    result = _validate_compose(COMPOSE)
    assert result.returncode == 0, f"compose.yaml is invalid:\n{result.stdout}\n{result.stderr}"


def test_the_schema_check_rejects_a_broken_compose_file(tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    broken.write_text("services:\n  x:\n    ports: 5\n", encoding="utf-8")
    result = _validate_compose(broken)
    output = f"{result.stdout}\n{result.stderr}"
    assert result.returncode != 0, f"a broken compose file passed:\n{output}"
    # Rejected by the schema, not for failing to parse.
    assert "$.services.x.ports" in output, output


def test_compose_has_no_version_key() -> None:
    assert "version" not in _load(COMPOSE)


def test_compose_runs_each_service_and_the_console_on_its_default_port() -> None:
    services = _compose_services()
    assert set(SERVICES) == set(DEFAULT_PORTS)
    assert PORTS["console"] == 8000
    for name, port in PORTS.items():
        assert name in services, f"compose.yaml has no service {name}"
        service = services[name]
        assert service["command"] == ["serve", name]
        assert service["ports"] == [f"{port}:{port}"], f"{name}: {service['ports']}"
        assert str(service["environment"]["KEHU_PORT"]) == str(port)
        assert service["build"] == "."
        assert service["restart"] == "unless-stopped"
        assert "/health/ready" in " ".join(service["healthcheck"]["test"])
        for dependency in ("kafka", "postgres"):
            assert service["depends_on"][dependency]["condition"] == "service_healthy", (name, dependency)
        assert "kehu_tokens" in service["secrets"]
    published = sorted(
        int(str(port).split(":")[0]) for service in services.values() for port in service.get("ports", [])
    )
    assert published == sorted(PORTS.values())


def test_compose_environment_names_are_settings() -> None:
    fields = _settings_env_names()
    used = {
        key
        for service in _compose_services().values()
        for key in (service.get("environment") or {})
        if key.startswith("KEHU_")
    }
    assert used, "compose.yaml sets no KEHU_* variable"
    unknown = used - fields - NOT_SETTINGS
    assert not unknown, f"not fields of shared.settings.Settings: {sorted(unknown)}"


def test_compose_service_environment_points_at_the_compose_services() -> None:
    services = _compose_services()
    env = services["orders"]["environment"]
    assert env["KEHU_KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert env["KEHU_DATABASE_URL"].endswith("@postgres:5432/postgres")
    assert env["KEHU_CONTACTS_URL"] == f"http://contacts:{DEFAULT_PORTS['contacts']}"
    assert env["KEHU_TOKENS_FILE"] == "/run/secrets/kehu_tokens"
    kafka = services["kafka"]["environment"]
    assert str(kafka["KAFKA_AUTO_CREATE_TOPICS_ENABLE"]) == "false"
    assert str(kafka["KAFKA_NUM_PARTITIONS"]) == str(env["KEHU_TOPIC_PARTITIONS"])


def test_compose_gives_each_service_the_console_public_key_and_never_its_private_key() -> None:
    compose = _load(COMPOSE)
    services = compose["services"]
    public = compose["secrets"]["kehu_identity_public_key"]["file"]
    assert public.endswith(".pub.pem")
    for name in DEFAULT_PORTS:
        assert "kehu_identity_public_key" in services[name]["secrets"], name
        env = services[name]["environment"]
        assert env["KEHU_IDENTITY_PUBLIC_KEY_FILE"] == "/run/secrets/kehu_identity_public_key"
        assert "KEHU_IDENTITY_KEY_FILE" not in env, name
        private = [s for s in services[name]["secrets"]
                   if not str(compose["secrets"][s].get("file", "")).endswith((".pub.pem", "tokens.json"))]
        assert not private, f"{name} mounts {private}"


def test_compose_console_has_the_private_key_and_reaches_the_services() -> None:
    compose = _load(COMPOSE)
    console = compose["services"]["console"]
    env = console["environment"]
    assert compose["secrets"]["kehu_identity_key"]["file"] == "./deploy/identity/console-key.pem"
    assert "kehu_identity_key" in console["secrets"]
    assert env["KEHU_IDENTITY_KEY_FILE"] == "/run/secrets/kehu_identity_key"
    mounting = sorted(n for n, s in compose["services"].items() if "kehu_identity_key" in s.get("secrets", []))
    assert mounting == ["console"]
    assert env["KEHU_DATABASE_URL"] == compose["services"]["orders"]["environment"]["KEHU_DATABASE_URL"]
    for name, port in DEFAULT_PORTS.items():  # its pages call the four services
        assert env[f"KEHU_{name.upper()}_URL"] == f"http://{name}:{port}"
        assert name in console["depends_on"]
    assert "KEHU_CONSOLE_DEV_ADMIN_PASSWORD_FILE" not in env  # the first admin is made with `kehu user add`


def test_compose_mounts_files_that_are_in_the_repository() -> None:
    collector = _compose_services()["otel-collector"]
    for volume in collector["volumes"]:
        source = volume.split(":")[0]
        assert (ROOT / source).is_file(), source
    config = _load(ROOT / "deploy" / "otel-collector.yaml")
    assert set(config["service"]["pipelines"]) >= {"traces", "metrics"}
    assert "debug" in config["exporters"]


# --- Dockerfile --------------------------------------------------------------------------------


def test_dockerfile_entrypoint_and_ports() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(r'^ENTRYPOINT \["kehu"\]$', text, re.M)
    assert re.search(r'^CMD \["serve", "contacts"\]$', text, re.M)
    exposed = {int(p) for line in re.findall(r"^EXPOSE (.+)$", text, re.M) for p in line.split()}
    assert exposed == set(PORTS.values())
    for package in ("shared", "services", "kehu", "console"):
        assert re.search(rf"^COPY {package}/ {package}/$", text, re.M), f"the image lacks {package}/"
    assert re.search(r"^USER (?!root|0\b)", text, re.M), "the image must not run as root"


# --- deploy/k8s --------------------------------------------------------------------------------


def _k8s_documents() -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = []
    for path in sorted(K8S.glob("*.yaml")):
        for document in _yaml().load_all(path.read_text(encoding="utf-8")):
            if document is not None:
                assert isinstance(document, dict), path
                documents.append(document)
    return documents


def _of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in _k8s_documents() if d.get("kind") == kind}


def test_k8s_documents_parse_and_are_listed_in_the_kustomization() -> None:
    documents = _k8s_documents()
    assert all("apiVersion" in d and "kind" in d for d in documents)
    kustomization = _load(K8S / "kustomization.yaml")
    listed = set(kustomization["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


def test_k8s_deployments_run_each_service_and_the_console_on_its_default_port() -> None:
    deployments = _of_kind("Deployment")
    services = _of_kind("Service")
    assert set(deployments) == set(PORTS)
    assert set(services) == set(PORTS)
    for name, port in PORTS.items():
        pod = deployments[name]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        command = container.get("command")
        args = container.get("args")
        # Either the whole command, or arguments to the image's ENTRYPOINT ["kehu"].
        assert (command, args) in [(["kehu", "serve", name], None), (None, ["serve", name])], (
            name,
            command,
            args,
        )
        assert [p["containerPort"] for p in container["ports"]] == [port]
        env = {e["name"]: e for e in container["env"]}
        assert env["KEHU_PORT"]["value"] == str(port)
        assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
        assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
        assert pod["terminationGracePeriodSeconds"] == 30
        assert container["resources"]["requests"]
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        tokens = volumes["kehu-tokens"]["secret"]
        assert tokens["secretName"] == "kehu-tokens"
        (item,) = tokens["items"]
        assert f"{mounts['kehu-tokens'].rstrip('/')}/{item['path']}" == "/run/secrets/kehu_tokens"
        identity = volumes["kehu-identity"]["secret"]
        assert identity["secretName"] == "kehu-identity-public"  # the public key only: never the console's private one
        (key,) = identity["items"]
        public_key_file = _of_kind("ConfigMap")["kehu-config"]["data"]["KEHU_IDENTITY_PUBLIC_KEY_FILE"]
        assert f"{mounts['kehu-identity'].rstrip('/')}/{key['path']}" == public_key_file
        assert key["key"].endswith(".pub.pem")
        assert ("KEHU_IDENTITY_KEY_FILE" in env) == (name == "console")
        assert [p["port"] for p in services[name]["spec"]["ports"]] == [port]
        selector = services[name]["spec"]["selector"]
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items()


def test_k8s_console_alone_mounts_the_private_key_and_reaches_the_services() -> None:
    deployments = _of_kind("Deployment")
    mounting = sorted(name for name, d in deployments.items() for v in d["spec"]["template"]["spec"]["volumes"]
                      if v.get("secret", {}).get("secretName") == "kehu-identity-key")
    assert mounting == ["console"]
    pod = deployments["console"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    (volume,) = [v for v in pod["volumes"] if v.get("secret", {}).get("secretName") == "kehu-identity-key"]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
    (item,) = volume["secret"]["items"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["KEHU_IDENTITY_KEY_FILE"] == f"{mount['mountPath'].rstrip('/')}/{item['path']}"
    assert volume["secret"]["defaultMode"] & 0o007 == 0, "the private key must not be world-readable"
    config = _of_kind("ConfigMap")["kehu-config"]["data"]
    services = _of_kind("Service")
    for name, port in DEFAULT_PORTS.items():  # its pages call the four services through their Services
        assert config[f"KEHU_{name.upper()}_URL"] == f"http://{name}:{port}"
        assert [p["port"] for p in services[name]["spec"]["ports"]] == [port]


def test_k8s_environment_names_are_settings() -> None:
    fields = _settings_env_names()
    used = set(_of_kind("ConfigMap")["kehu-config"]["data"])
    for deployment in _of_kind("Deployment").values():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            used |= {e["name"] for e in container.get("env", [])}
    unknown = {n for n in used if n.startswith("KEHU_")} - fields - NOT_SETTINGS
    assert not unknown, f"not fields of shared.settings.Settings: {sorted(unknown)}"


def test_no_secret_is_committed_in_k8s() -> None:
    assert not _of_kind("Secret")
    config = _of_kind("ConfigMap")["kehu-config"]["data"]
    assert "KEHU_DATABASE_URL" not in config
    assert "KEHU_SERVICE_TOKEN" not in config


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_k8s_kustomization_builds() -> None:
    result = subprocess.run(
        ["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr
    kinds = [d["kind"] for d in _yaml().load_all(result.stdout) if d]
    assert kinds.count("Deployment") == len(PORTS)
