"""The backend store's TLS, proven on a real PostgreSQL (Debian's package) and the real libpq (psycopg2).

The test makes a CA and a server certificate for ``localhost``, starts PostgreSQL with TLS on a loopback port
(as the ``postgres`` user: the server refuses to run as root), and connects with exactly the options
:func:`backend_store_uri` renders, only the host, port and CA path substituted:

* ``verify-full`` (AWS, Azure) connects to the certificate's name and refuses another CA and another name;
* ``verify-ca`` (GCP, whose certificates do not name the private IP) connects by IP and refuses another CA;
* ``require``, the previous setting, accepted a certificate of any CA, which is what this change closes;
* the schema migration (``mlflow db upgrade``, as the Job runs it) succeeds through ``verify-full``;
* the init container's fetch script, run unchanged, downloads a bundle over HTTPS and refuses an answer
  that holds no certificate.
"""

from __future__ import annotations

import http.server
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar
from urllib.parse import quote

import pytest

from mlops_platform.mlflow.command import backend_store_uri
from mlops_platform.mlflow.database_tls import FETCH_SCRIPT, connection_options
from mlops_platform.mlflow.stores import BackendDatabase, DatabaseTls

from .pki import make_ca, make_server_cert

PASSWORD = "s3cret-for-tls-test"
POSTGRES_BINS = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Pki:
    def __init__(self, tmp: Path) -> None:
        self.ca, key, cert = make_ca(tmp, "trusted")
        self.other_ca, _, _ = make_ca(tmp, "other")
        self.cert, self.key = make_server_cert(tmp, key, cert, "localhost")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def postgres(pki: Pki) -> Iterator[int]:
    if not POSTGRES_BINS:  # pragma: no cover - a missing test dependency must fail, not skip
        pytest.fail("PostgreSQL is required: make system-tools installs Debian's postgresql")
    bin_dir = POSTGRES_BINS[-1].parent
    # its own directory under /tmp: pytest's are private to root, which the postgres user cannot traverse
    root = Path(tempfile.mkdtemp(prefix="mlops-postgres-"))
    data, run = root / "data", root / "run"
    run.mkdir()
    for name in ("ca.pem", "server.crt", "server.key"):
        source = {"ca.pem": pki.ca, "server.crt": pki.cert, "server.key": pki.key}[name]
        shutil.copy(source, root / name)
    (root / "pw").write_text(PASSWORD)
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root; setpriv execs, so the PID stays the server's
        shutil.chown(root, "postgres", "postgres")
        for path in [data.parent, run, *root.iterdir()]:
            shutil.chown(path, "postgres", "postgres")
        os.chmod(root, 0o700)
        as_postgres = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"]
    os.chmod(root / "server.key", 0o600)
    subprocess.run(
        [*as_postgres, str(bin_dir / "initdb"), "-D", str(data), "-U", "mlflow", "--auth=scram-sha-256", f"--pwfile={root / 'pw'}"],
        check=True,
        capture_output=True,
    )
    (data / "pg_hba.conf").write_text("hostssl all mlflow 127.0.0.1/32 scram-sha-256\nhostssl all mlflow ::1/128 scram-sha-256\n")
    port = free_port()
    server = subprocess.Popen(
        [
            *as_postgres,
            str(bin_dir / "postgres"),
            "-D",
            str(data),
            "-h",
            "127.0.0.1,::1",
            "-p",
            str(port),
            "-k",
            str(run),
            "-c",
            "ssl=on",
            "-c",
            f"ssl_cert_file={root / 'server.crt'}",
            "-c",
            f"ssl_key_file={root / 'server.key'}",
            "-c",
            "fsync=off",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(root / "postgres.log").open("w"),
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"postgres did not start: {(root / 'postgres.log').read_text()}") from None
                time.sleep(0.2)
        yield port
    finally:
        server.terminate()  # smart shutdown, by PID
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(root, ignore_errors=True)


def uri(tls: DatabaseTls, host: str, port: int, ca: Path) -> str:
    """The rendered URI with the host, port and CA path of this machine."""
    rendered = backend_store_uri(BackendDatabase(host=None, resources=[], tls=tls), host, PASSWORD)  # type: ignore[arg-type]
    assert rendered == f"postgresql+psycopg2://mlflow:{quote(PASSWORD)}@{host}:5432/mlflow?{connection_options(tls)}"
    rendered_ca = f"sslrootcert={tls.ca_file or '/etc/mlflow/db-ca/ca.pem'}"
    return rendered.replace(":5432/mlflow", f":{port}/postgres").replace(rendered_ca, f"sslrootcert={ca}")


def connect(url: str) -> str:
    """Connect with libpq as SQLAlchemy does for MLflow; returns the server's view of the connection's TLS."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(sqlalchemy.text("select ssl from pg_stat_ssl where pid = pg_backend_pid()")).scalar())
    finally:
        engine.dispose()


VERIFY_FULL = DatabaseTls(mode="verify-full", ca_url="https://truststore.example/bundle.pem")
VERIFY_CA = DatabaseTls(mode="verify-ca", ca_pem="unused")


def test_verify_full_connects_to_the_named_server_with_its_ca(postgres: int, pki: Pki):
    assert connect(uri(VERIFY_FULL, "localhost", postgres, pki.ca)) == "True"


def test_verify_full_refuses_another_ca(postgres: int, pki: Pki):
    with pytest.raises(Exception, match="certificate verify failed"):
        connect(uri(VERIFY_FULL, "localhost", postgres, pki.other_ca))


def test_verify_full_refuses_a_name_the_certificate_does_not_hold(postgres: int, pki: Pki):
    with pytest.raises(Exception, match="does not match host name"):
        connect(uri(VERIFY_FULL, "127.0.0.1", postgres, pki.ca))


def test_verify_ca_connects_by_ip_and_refuses_another_ca(postgres: int, pki: Pki):
    assert connect(uri(VERIFY_CA, "127.0.0.1", postgres, pki.ca)) == "True"
    with pytest.raises(Exception, match="certificate verify failed"):
        connect(uri(VERIFY_CA, "127.0.0.1", postgres, pki.other_ca))


def test_require_the_previous_setting_accepted_any_certificate(postgres: int, pki: Pki):
    """Why `require` went: it encrypts, but to whoever answers. The client here trusts no CA at all."""
    assert connect(f"postgresql+psycopg2://mlflow:{PASSWORD}@127.0.0.1:{postgres}/postgres?sslmode=require") == "True"


def test_the_schema_migration_runs_through_verify_full(postgres: int, pki: Pki, tmp_path: Path):
    url = uri(VERIFY_FULL, "localhost", postgres, pki.ca)
    env = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin", "HOME": str(tmp_path), "MLFLOW_DISABLE_TELEMETRY": "true"}
    done = subprocess.run(["mlflow", "db", "upgrade", url], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    import sqlalchemy

    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sqlalchemy.text("select count(*) from alembic_version")).scalar() == 1
    finally:
        engine.dispose()


class _Bundle(http.server.BaseHTTPRequestHandler):
    bodies: ClassVar[dict[str, bytes]] = {}

    def do_GET(self) -> None:
        body = self.bodies.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, format: str, *args: object) -> None:
        return


def test_the_init_container_fetches_the_bundle_over_verified_https(pki: Pki, tmp_path: Path):
    _Bundle.bodies = {"/r/r-bundle.pem": pki.other_ca.read_bytes() + pki.ca.read_bytes(), "/r/empty.pem": b"<html>moved</html>"}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Bundle)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.cert, pki.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    env = {"PATH": os.environ["PATH"], "SSL_CERT_FILE": str(pki.ca)}  # the image's trust store, here the test CA

    def fetch(path: str, target: Path, **extra: str) -> subprocess.CompletedProcess[str]:
        url = f"https://localhost:{port}{path}"
        return subprocess.run([sys.executable, "-c", FETCH_SCRIPT, url, str(target)], env={**env, **extra}, capture_output=True, text=True)

    try:
        target = tmp_path / "ca.pem"
        done = fetch("/r/r-bundle.pem", target)
        assert done.returncode == 0, done.stderr
        assert target.read_bytes() == _Bundle.bodies["/r/r-bundle.pem"] and "2 certificates" in done.stdout
        refused = fetch("/r/empty.pem", tmp_path / "x.pem")
        assert refused.returncode != 0 and "no PEM certificate" in refused.stderr and not (tmp_path / "x.pem").exists()
        untrusted = fetch("/r/r-bundle.pem", tmp_path / "y.pem", SSL_CERT_FILE=str(pki.other_ca))
        assert untrusted.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr
    finally:
        server.shutdown()
        server.server_close()
