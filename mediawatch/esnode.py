"""The local Elasticsearch node that mediawatch starts for itself.

Used when no external cluster is configured (``MEDIAWATCH_ES_URL`` unset): the
official ``integ-test-zip`` distribution is fetched from Maven Central with
``mvn`` (cached in the local Maven repository, so a second start downloads
nothing), unpacked under the state directory and run as an unprivileged user
(Elasticsearch refuses to run as root) on 127.0.0.1 with a fixed heap and
x-pack security on. The ``elastic`` password is generated locally and kept in a
0600 file under the state directory, never in the repository.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import zipfile
from base64 import b64encode
from dataclasses import dataclass
from pathlib import Path

import yaml

from mediawatch.errors import OperationalError
from mediawatch.security import ROLE_OF_USER_KIND, ROLES
from mediawatch.settings import Settings

log = logging.getLogger(__name__)

ES_SYSTEM_USER = "mediawatch-es"
MAVEN_GROUP = "org.elasticsearch.distribution.integ-test-zip"
START_TIMEOUT_S = 180
JVM_ROOT = Path("/usr/lib/jvm")


class EsNodeError(OperationalError):
    """The local node could not be fetched, started or stopped; the message says why."""


@dataclass(frozen=True)
class NodeInfo:
    url: str
    pid: int
    reused: bool
    start_seconds: float


def _paths(settings: Settings) -> dict[str, Path]:
    base = _node_base(settings)
    return {
        "base": base,
        "dist": base / f"elasticsearch-{settings.local_es_version}",
        "config": base / "node" / "config",
        "data": base / "node" / "data",
        "logs": base / "node" / "logs",
        "pid": base / "node" / "elasticsearch.pid",
        # Credentials stay with the project user (root-only when run as root), not the ES user.
        "credentials": settings.local_es_dir / "credentials.json",
    }


def _node_base(settings: Settings) -> Path:
    """Where the node's files live.

    Normally ``<home>/elasticsearch``. When running as root, the node runs as an
    unprivileged user who must be able to reach that directory; a checkout under
    ``/root`` (mode 0700) is not reachable, so the node then lives under
    ``/var/lib/mediawatch-es/<hash of home>`` instead.
    """
    preferred = settings.local_es_dir
    if os.geteuid() != 0 or _traversable_by_others(preferred):
        return preferred
    digest = hashlib.sha1(str(settings.home).encode()).hexdigest()[:12]
    return Path("/var/lib/mediawatch-es") / digest


def _traversable_by_others(path: Path) -> bool:
    for parent in [path, *path.parents]:
        if parent.exists() and not (parent.stat().st_mode & 0o001):
            return False
    return True


def credentials(settings: Settings) -> dict:
    """Generated passwords of the local node (created on first call, mode 0600)."""
    path = _paths(settings)["credentials"]
    if path.exists():
        return json.loads(path.read_text())
    path.parent.mkdir(parents=True, exist_ok=True)
    creds = {
        "elastic": secrets.token_urlsafe(18),
        "writer": {"username": "mediawatch_writer", "password": secrets.token_urlsafe(18)},
        "reader": {"username": "mediawatch_reader", "password": secrets.token_urlsafe(18)},
    }
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(creds, handle, indent=2)
    tmp.replace(path)
    return creds


def url(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.local_es_port}"


# --- prerequisites -----------------------------------------------------------------


def _java_major(java_home: Path) -> int | None:
    release = java_home / "release"
    if release.exists():
        match = re.search(r'JAVA_VERSION="(\d+)', release.read_text(errors="replace"))
        if match:
            return int(match.group(1))
    try:
        out = subprocess.run(
            [str(java_home / "bin" / "java"), "-version"], capture_output=True, text=True, timeout=30
        ).stderr
    except OSError:
        return None
    match = re.search(r'version "(\d+)', out)
    return int(match.group(1)) if match else None


def find_java_home(min_major: int = 17) -> Path:
    """A JDK for Elasticsearch 8.x (Java 17+): ``ES_JAVA_HOME`` if set, else the
    oldest suitable JDK under /usr/lib/jvm (8.x is built and tested on 17)."""
    configured = os.environ.get("ES_JAVA_HOME")
    if configured:
        home = Path(configured)
        if not (home / "bin" / "java").exists():
            raise EsNodeError(f"ES_JAVA_HOME={configured} has no bin/java: point it at a JDK {min_major}+")
        major = _java_major(home)
        if major is None or major < min_major:
            raise EsNodeError(f"ES_JAVA_HOME={configured} is Java {major}; Elasticsearch 8 needs Java {min_major}+")
        return home
    candidates = []
    if JVM_ROOT.is_dir():
        for home in sorted(JVM_ROOT.iterdir()):
            if home.is_symlink() or not (home / "bin" / "java").exists():
                continue
            major = _java_major(home)
            if major is not None and major >= min_major:
                candidates.append((major, str(home)))
    if not candidates:
        raise EsNodeError(
            f"no Java {min_major}+ runtime found under {JVM_ROOT}: install one "
            "(apt-get install openjdk-17-jre-headless) or set ES_JAVA_HOME"
        )
    return Path(min(candidates)[1])


def _maven_repo() -> Path:
    return Path(os.environ.get("MAVEN_REPO_LOCAL") or Path.home() / ".m2" / "repository")


def fetch_distribution(settings: Settings) -> Path:
    """The distribution zip, from the local Maven repository or Maven Central."""
    version = settings.local_es_version
    zip_path = _maven_repo() / MAVEN_GROUP.replace(".", "/") / "elasticsearch" / version / f"elasticsearch-{version}.zip"
    if zip_path.exists():
        return zip_path
    if shutil.which("mvn") is None:
        raise EsNodeError("Maven (mvn) is not installed: apt-get install maven, or set MEDIAWATCH_ES_URL")
    artifact = f"{MAVEN_GROUP}:elasticsearch:{version}:zip"
    log.info("fetching Elasticsearch %s from Maven Central (%s)", version, artifact)
    cmd = ["mvn", "-B", "-q", "dependency:get", f"-Dartifact={artifact}", "-Dtransitive=false"]
    if os.environ.get("MAVEN_REPO_LOCAL"):
        cmd.append(f"-Dmaven.repo.local={_maven_repo()}")
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0 or not zip_path.exists():
        tail = (result.stdout + result.stderr).strip().splitlines()[-5:]
        raise EsNodeError(f"could not fetch {artifact} with `{' '.join(cmd)}`: " + " | ".join(tail))
    return zip_path


def _unpack(zip_path: Path, dest: Path) -> None:
    if (dest / "bin" / "elasticsearch").exists():
        return
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with zipfile.ZipFile(zip_path) as archive:
        for member in archive.infolist():
            target = archive.extract(member, tmp)
            mode = member.external_attr >> 16
            if mode:
                os.chmod(target, mode)
    (top,) = list(tmp.iterdir())  # the zip holds one directory, elasticsearch-<version>
    top.rename(dest)
    tmp.rmdir()


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _run_as_user() -> str | None:
    """The unprivileged user to run Elasticsearch as (None: the current user)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(ES_SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", ES_SYSTEM_USER],
            check=True,
            capture_output=True,
        )
    return ES_SYSTEM_USER


# --- lifecycle ---------------------------------------------------------------------


def _pid_alive(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def _health(settings: Settings, password: str, wait: str = "0s") -> dict | None:
    request = urllib.request.Request(
        f"{url(settings)}/_cluster/health?wait_for_status=yellow&timeout={wait}",
        headers={"Authorization": "Basic " + b64encode(f"elastic:{password}".encode()).decode()},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _write_config(settings: Settings, paths: dict[str, Path], dist: Path) -> None:
    config = paths["config"]
    if not (config / "log4j2.properties").exists():
        shutil.copytree(dist / "config", config, dirs_exist_ok=True)
    (config / "elasticsearch.yml").write_text(
        "\n".join(
            [
                "# Written by mediawatch.esnode; regenerated on every start.",
                "cluster.name: mediawatch",
                "node.name: mediawatch-local",
                "network.host: 127.0.0.1",
                f"http.port: {settings.local_es_port}",
                f"transport.port: {settings.local_es_port + 100}",
                "discovery.type: single-node",
                f"path.data: {paths['data']}",
                f"path.logs: {paths['logs']}",
                "xpack.security.enabled: true",
                # Loopback only, single node: plain HTTP with authentication (no TLS certificates to manage).
                "xpack.security.http.ssl.enabled: false",
                "xpack.security.transport.ssl.enabled: false",
                "action.destructive_requires_name: true",
                # A full disk on a developer machine must not turn indices read-only mid-test.
                "cluster.routing.allocation.disk.threshold_enabled: false",
                "",
            ]
        )
    )
    options = config / "jvm.options.d"
    options.mkdir(exist_ok=True)
    (options / "heap.options").write_text(f"-Xms{settings.local_es_heap}\n-Xmx{settings.local_es_heap}\n")


def _ensure_file_realm(paths: dict[str, Path], dist: Path, java_home: Path, creds: dict) -> None:
    """Roles in roles.yml and users in the file realm (the node re-reads both files).

    The native realm cannot be used on this distribution: its ``.security`` index
    mapping needs analysis-common, which the integ-test zip lacks.
    """
    config = paths["config"]
    (config / "roles.yml").write_text(yaml.safe_dump(ROLES, sort_keys=True))
    users_file = config / "users"
    existing = {line.split(":", 1)[0] for line in users_file.read_text().splitlines()} if users_file.exists() else set()
    env = {**os.environ, "ES_PATH_CONF": str(config), "ES_JAVA_HOME": str(java_home)}
    for kind, role in ROLE_OF_USER_KIND.items():
        username, password = creds[kind]["username"], creds[kind]["password"]
        if username in existing:
            continue
        subprocess.run(
            [str(dist / "bin" / "elasticsearch-users"), "useradd", username, "-p", password, "-r", role],
            env=env, check=True, capture_output=True, text=True,
        )


def _ensure_keystore(paths: dict[str, Path], dist: Path, java_home: Path, password: str) -> None:
    if (paths["config"] / "elasticsearch.keystore").exists():
        return
    env = {**os.environ, "ES_PATH_CONF": str(paths["config"]), "ES_JAVA_HOME": str(java_home)}
    tool = str(dist / "bin" / "elasticsearch-keystore")
    subprocess.run([tool, "create"], env=env, check=True, capture_output=True)
    subprocess.run(
        [tool, "add", "-x", "bootstrap.password"], env=env, input=password, text=True, check=True, capture_output=True
    )


def start(settings: Settings) -> NodeInfo:
    """Start the local node, or reuse it when it is already running. Idempotent."""
    began = time.monotonic()
    paths = _paths(settings)
    creds = credentials(settings)
    password = creds["elastic"]
    running = _pid_alive(paths["pid"])
    if running and _health(settings, password):
        return NodeInfo(url(settings), running, True, time.monotonic() - began)
    java_home = find_java_home()
    for port in (settings.local_es_port, settings.local_es_port + 100):
        if _port_in_use(port):
            raise EsNodeError(
                f"port {port} on 127.0.0.1 is already in use by another process; "
                "stop it or choose another port with MEDIAWATCH_LOCAL_ES_PORT"
            )
    dist = paths["dist"]
    _unpack(fetch_distribution(settings), dist)
    for key in ("config", "data", "logs"):
        paths[key].mkdir(parents=True, exist_ok=True)
    _write_config(settings, paths, dist)
    _ensure_keystore(paths, dist, java_home, password)
    _ensure_file_realm(paths, dist, java_home, creds)
    user = _run_as_user()
    if user:
        subprocess.run(["chown", "-R", f"{user}:", str(paths["base"] / "node")], check=True)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ES_")},
        "ES_PATH_CONF": str(paths["config"]),
        "ES_JAVA_HOME": str(java_home),
    }
    cmd = [str(dist / "bin" / "elasticsearch"), "-d", "-p", str(paths["pid"])]
    if user:
        cmd = ["runuser", "-u", user, "--", *cmd]
    log.info("starting Elasticsearch %s on %s (heap %s)", settings.local_es_version, url(settings), settings.local_es_heap)
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=str(paths["base"]))
    if result.returncode != 0:
        raise EsNodeError(f"Elasticsearch failed to start (exit {result.returncode}): {_log_tail(paths, result)}")
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        pid = _pid_alive(paths["pid"])
        if pid and _health(settings, password, wait="1s"):
            return NodeInfo(url(settings), pid, False, time.monotonic() - began)
        time.sleep(1)
    raise EsNodeError(f"Elasticsearch did not become healthy within {START_TIMEOUT_S}s: {_log_tail(paths, result)}")


def _log_tail(paths: dict[str, Path], result: subprocess.CompletedProcess) -> str:
    lines = (result.stdout + result.stderr).strip().splitlines()
    log_file = paths["logs"] / "mediawatch.log"
    if log_file.exists():
        lines += log_file.read_text(errors="replace").splitlines()
    errors = [line for line in lines if "ERROR" in line or "Exception" in line] or lines
    return " | ".join(errors[-5:]) or "no output"


def stop(settings: Settings, timeout_s: float = 60) -> bool:
    """Stop the node by its recorded PID. Returns False when it was not running."""
    paths = _paths(settings)
    pid = _pid_alive(paths["pid"])
    if pid is None:
        paths["pid"].unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            break
        time.sleep(0.5)
    else:
        log.warning("Elasticsearch (pid %s) ignored SIGTERM for %ss; killing it", pid, timeout_s)
        os.kill(pid, signal.SIGKILL)
    paths["pid"].unlink(missing_ok=True)
    return True


def status(settings: Settings) -> dict:
    paths = _paths(settings)
    pid = _pid_alive(paths["pid"])
    health = _health(settings, credentials(settings)["elastic"]) if pid else None
    rss_kb = None
    if pid:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss_kb = int(line.split()[1])
    return {"url": url(settings), "pid": pid, "running": bool(health), "health": health,
            "rss_mb": rss_kb // 1024 if rss_kb else None, "home": str(paths["base"])}
