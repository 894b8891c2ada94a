"""HTTPS: the dashboard served by uvicorn with a self-signed certificate made in the test answers
over TLS (and not in clear), its cookies are `__Host-` and Secure; `serve` passes the certificate
and key to uvicorn and binds cookies and the Host check to the deployment."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from oidc_provider import Running, free_port
from serve_helpers import USERS

from hiddennet.report.sample import write_sample_run
from hiddennet.serve import create_app, plan_deployment


def self_signed(folder: Path) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return write_sample_run(tmp_path_factory.mktemp("run"))


def test_dashboard_over_tls_with_a_self_signed_certificate(run_dir, tmp_path):
    cert, key = self_signed(tmp_path)
    port = free_port()
    plan = plan_deployment(run_dir, "127.0.0.1", port, tls_cert=cert, tls_key=key)
    assert plan.tls and plan.deployment.startswith("https://")
    app = create_app(
        run_dir,
        users=USERS,
        audit_path=tmp_path / "a.jsonl",
        allowed_hosts=plan.allowed_hosts,
        secure_cookies=plan.secure_cookies,
        deployment=plan.deployment,
    )
    with Running(app, port, ssl_certfile=str(cert), ssl_keyfile=str(key)):
        trust = ssl.create_default_context(cafile=str(cert))
        r = httpx.get(f"https://127.0.0.1:{port}/login", verify=trust)
        assert r.status_code == 200 and "Sign in" in r.text
        (cookie,) = r.headers.get_list("set-cookie")
        assert cookie.startswith("__Host-") and "Secure" in cookie
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/login", timeout=5)  # no clear-text answer on the TLS port
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"https://127.0.0.1:{port}/login", timeout=5)  # an untrusted certificate is refused by the client


def test_serve_hands_the_certificate_to_uvicorn(run_dir, tmp_path, monkeypatch):
    import uvicorn

    from hiddennet.serve import serve

    cert, key = self_signed(tmp_path)
    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(kw, app=app))
    serve(run_dir, host="0.0.0.0", port=9443, tls_cert=cert, tls_key=key, allowed_hosts=["dash.force.test"])
    assert seen["ssl_certfile"] == str(cert) and seen["ssl_keyfile"] == str(key) and seen["host"] == "0.0.0.0"
    d = seen["app"].state.dash
    assert d.allowed_hosts == {"dash.force.test", "dash.force.test:9443"}  # 0.0.0.0 keeps the Host check on
    assert d.cookies.secure and d.cookies.session.startswith("__Host-")


def _cookies(r: httpx.Response) -> dict[str, str]:
    return dict(c.split(";", 1)[0].split("=", 1) for c in r.headers.get_list("set-cookie"))


def test_a_cookie_issued_on_one_port_is_refused_on_another(run_dir, tmp_path):
    """Two real dashboards of the same run on 127.0.0.1 (two ports): the session cookie the first
    issues, replayed to the second (a browser sends it there: cookies ignore ports), is refused."""
    import re

    from serve_helpers import TOKENS

    servers = []
    for port in (free_port(), free_port()):
        plan = plan_deployment(run_dir, "127.0.0.1", port)
        app = create_app(
            run_dir,
            users=USERS,
            audit_path=tmp_path / f"{port}.jsonl",
            allowed_hosts=plan.allowed_hosts,
            secure_cookies=plan.secure_cookies,
            deployment=plan.deployment,
        )
        servers.append((port, Running(app, port)))
    (p1, s1), (p2, s2) = servers
    with s1, s2:
        login = httpx.get(f"http://127.0.0.1:{p1}/login")
        jar = _cookies(login)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', login.text).group(1)
        cookie_header = "; ".join(f"{k}={v}" for k, v in jar.items())
        r = httpx.post(
            f"http://127.0.0.1:{p1}/login",
            headers={"Cookie": cookie_header},
            data={"name": "user-analyst", "token": TOKENS["analyst"], "csrf_token": csrf},
        )
        assert r.status_code == 303
        session = "; ".join(f"{k}={v}" for k, v in _cookies(r).items() if "session" in k)
        assert httpx.get(f"http://127.0.0.1:{p1}/groups", headers={"Cookie": session}).status_code == 200
        assert httpx.get(f"http://127.0.0.1:{p2}/groups", headers={"Cookie": session}).status_code == 401
        value = session.split("=", 1)[1]
        other = servers[1][1].server.config.app.state.dash.cookies.session
        assert httpx.get(f"http://127.0.0.1:{p2}/groups", headers={"Cookie": f"{other}={value}"}).status_code == 401
