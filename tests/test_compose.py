"""docker-compose.yml is consistent with itself, .env.example, deploy/ and the project.

No Docker engine runs here, so the file is parsed with PyYAML (anchors and merge
keys resolved as Compose resolves them) and checked the way Compose would fail:
variable interpolation, references between services, volumes, files it uses.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import subprocess

import pytest
import yaml

from mediawatch.settings import PROJECT_ROOT, load_settings

COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
ENV_EXAMPLE = PROJECT_ROOT / ".env.example"
# $$ is a literal dollar; ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, $VAR are references.
DOLLAR = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?P<modifier>:?[-?+][^}]*)?\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")
ONE_SHOT_CONDITION = "service_completed_successfully"
CONDITIONS = {"service_started", "service_healthy", ONE_SHOT_CONDITION}
SECRET_NAME = re.compile(r"(PASSWORD|SECRET|ENCRYPTION_?KEY|FERNET_KEY)$")
IMAGE_ROOT = "/opt/mediawatch/"  # where deploy/Dockerfile copies the repository


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    values = {}
    for number, line in enumerate(ENV_EXAMPLE.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, separator, value = line.partition("=")
        assert separator and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name), f".env.example line {number}: {line!r}"
        values[name] = value
    return values


def _strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def _interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's interpolation of one string (as far as this file uses it)."""

    def replace(match: re.Match) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["bare"]
        return env[name]

    return DOLLAR.sub(replace, text)


def _depends_on(service: dict) -> dict[str, dict]:
    depends = service.get("depends_on") or {}
    return {name: {"condition": "service_started"} for name in depends} if isinstance(depends, list) else depends


def _one_shots(services: dict) -> set[str]:
    return {name for name, service in services.items() if service.get("restart") == "no"}


def test_every_dollar_is_a_valid_reference_or_escaped():
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    for position in [m.start() for m in re.finditer(r"\$", text)]:
        # Skip the second dollar of an escaped pair.
        if position > 0 and text[position - 1] == "$" and DOLLAR.match(text, position - 1):
            continue
        assert DOLLAR.match(text, position), f"invalid interpolation near {text[position:position + 30]!r}"


def test_every_variable_resolves_against_env_example_and_every_setting_is_used(compose, env_example):
    referenced = set()
    for text in _strings(compose):
        for match in DOLLAR.finditer(text):
            name = match["braced"] or match["bare"]
            if name:
                referenced.add(name)
                assert name in env_example or match["modifier"], f"${{{name}}} is not defined in .env.example"
    assert referenced - set(env_example) == set()
    assert set(env_example) - referenced == set(), "settings in .env.example that docker-compose.yml never reads"


def test_env_example_ships_placeholders_not_secrets(env_example):
    secrets = {name: value for name, value in env_example.items() if SECRET_NAME.search(name)}
    assert len(secrets) >= 8
    for name, value in secrets.items():
        assert value.startswith("change-me"), f"{name} in .env.example must be a change-me placeholder"
    assert ".env" in (PROJECT_ROOT / ".gitignore").read_text().splitlines(), ".env must be git-ignored"


def test_secrets_in_compose_come_from_env(services):
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(key.upper().replace(".", "_")):
                assert isinstance(value, str) and DOLLAR.search(value), f"{name}: {key} is a literal, not ${{...}}"


def test_images_resolve_and_are_pinned(services, env_example):
    for name, service in services.items():
        assert service.get("image"), f"service {name} has no image"
        image = _interpolate(service["image"], env_example)
        repository, _, tag = image.rpartition(":")
        assert repository and tag and tag != "latest", f"{name}: image {image!r} is not pinned to a version"
        build = service.get("build")
        if build:
            context = PROJECT_ROOT / build["context"]
            assert (context / build["dockerfile"]).is_file(), f"{name}: {build['dockerfile']} is missing"
            for arg in (build.get("args") or {}).values():
                _interpolate(arg, env_example)


def test_elastic_stack_matches_the_client_and_the_local_node(services, env_example):
    """8.19 everywhere: the Python client's major must equal the server's."""
    stack = env_example["STACK_VERSION"]
    client_major = importlib.metadata.version("elasticsearch").split(".")[0]
    local_node = load_settings().local_es_version
    assert stack.split(".")[0] == client_major
    assert stack.split(".")[:2] == local_node.split(".")[:2]
    es_image = _interpolate(services["elasticsearch"]["image"], env_example)
    kibana_image = _interpolate(services["kibana"]["image"], env_example)
    assert es_image == f"docker.elastic.co/elasticsearch/elasticsearch:{stack}"
    assert kibana_image == f"docker.elastic.co/kibana/kibana:{stack}"


def test_airflow_image_is_the_pinned_airflow(env_example):
    assert env_example["AIRFLOW_VERSION"] == importlib.metadata.version("apache-airflow")
    dockerfile = (PROJECT_ROOT / "deploy" / "Dockerfile").read_text()
    assert "FROM apache/airflow:${AIRFLOW_VERSION}-python3.11" in dockerfile
    assert f"-e {IMAGE_ROOT.rstrip('/')}" in dockerfile, "the image must install this project"


def test_long_running_services_have_healthchecks(services):
    one_shots = _one_shots(services)
    assert one_shots == {"setup", "airflow-init"}
    for name, service in services.items():
        if name in one_shots:
            continue
        check = service.get("healthcheck")
        assert check, f"service {name} has no health check"
        assert check["test"][0] in ("CMD", "CMD-SHELL") and len(check["test"]) > 1
        assert service.get("restart") == "unless-stopped"


def test_start_order_is_consistent_and_acyclic(services):
    one_shots = _one_shots(services)
    for name, service in services.items():
        for target, spec in _depends_on(service).items():
            assert target in services, f"{name} depends on unknown service {target}"
            condition = spec["condition"]
            assert condition in CONDITIONS
            if condition == "service_healthy":
                assert services[target].get("healthcheck"), f"{name} waits for {target} to be healthy; it has no check"
            if condition == ONE_SHOT_CONDITION:
                assert target in one_shots, f"{name} waits for {target} to complete; it never does"
    visiting, done = set(), set()

    def visit(name: str, path: list[str]) -> None:
        assert name not in visiting, "dependency cycle: " + " -> ".join(path + [name])
        if name in done:
            return
        visiting.add(name)
        for target in _depends_on(services[name]):
            visit(target, path + [name])
        visiting.discard(name)
        done.add(name)

    for name in services:
        visit(name, [])


def test_airflow_runs_after_setup_and_migrations(services):
    for component in ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"):
        depends = _depends_on(services[component])
        assert depends["setup"]["condition"] == ONE_SHOT_CONDITION
        assert depends["airflow-init"]["condition"] == ONE_SHOT_CONDITION
        assert depends["postgres"]["condition"] == "service_healthy"
    commands = {services[c]["command"] for c in services if c.startswith("airflow-") and c != "airflow-init"}
    assert commands == {"api-server", "scheduler", "dag-processor", "triggerer"}


def test_volumes_are_declared_and_used(compose, services):
    declared = set(compose.get("volumes") or {})
    used = set()
    for name, service in services.items():
        for volume in service.get("volumes") or []:
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (PROJECT_ROOT / source).exists(), f"{name}: bind mount {source} does not exist"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"
                used.add(source)
    assert declared == used, f"declared but unused volumes: {declared - used}"
    assert "es-data:/usr/share/elasticsearch/data" in services["elasticsearch"]["volumes"]


def test_files_the_services_run_exist_in_the_repository(compose):
    for text in _strings(compose):
        for path in re.findall(re.escape(IMAGE_ROOT) + r"([\w./-]+)", text):
            assert (PROJECT_ROOT / path).exists(), f"{IMAGE_ROOT}{path} is not in the repository"


def test_ports_are_published_on_loopback_only(services):
    for name, service in services.items():
        for port in service.get("ports") or []:
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_elasticsearch_has_security_on_and_the_pipeline_no_admin_credentials(services):
    environment = services["elasticsearch"]["environment"]
    assert environment["xpack.security.enabled"] == "true"
    for name, service in services.items():
        if name != "setup":
            assert not any(key.startswith("MEDIAWATCH_ES_ADMIN") for key in service.get("environment") or {}), name


def _load_setup_module():
    spec = importlib.util.spec_from_file_location("deploy_setup", PROJECT_ROOT / "deploy" / "setup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_setup_service_gets_every_variable_setup_reads(services):
    setup = _load_setup_module()
    environment = services["setup"]["environment"]
    for name in (*setup.SECRETS, "MEDIAWATCH_ES_URL", "MEDIAWATCH_ES_ADMIN_USER", "KIBANA_URL",
                 "MEDIAWATCH_ES_WRITER_USER", "MEDIAWATCH_ES_READER_USER"):
        assert name in environment, f"setup reads {name}; compose does not pass it"
    assert sorted((PROJECT_ROOT / "kibana").glob("*.ndjson")), "setup imports kibana/*.ndjson: none found"


def test_setup_refuses_placeholder_secrets(env_example, monkeypatch, caplog):
    setup = _load_setup_module()
    for name in setup.SECRETS:
        monkeypatch.setenv(name, env_example[name] if name in env_example else "change-me")
    assert setup.main() == 1
    assert "still a placeholder" in caplog.text


def test_airflow_init_refuses_placeholder_secrets(env_example, tmp_path):
    env = {
        "PATH": os.environ["PATH"],
        "AIRFLOW__CORE__FERNET_KEY": env_example["AIRFLOW_FERNET_KEY"],
        "AIRFLOW__API_AUTH__JWT_SECRET": "a-real-secret",
        "AIRFLOW_ADMIN_PASSWORD": "a-real-password",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://airflow:pw@postgres:5432/airflow",
    }
    result = subprocess.run(["bash", str(PROJECT_ROOT / "deploy" / "airflow-init.sh")], env=env,
                            capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 1
    assert "set a real AIRFLOW_FERNET_KEY in .env" in result.stderr
