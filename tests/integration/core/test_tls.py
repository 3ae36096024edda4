"""https and wss: certificates are verified by default; ``verify_tls`` false or a CA bundle path makes a test server
with a self-signed certificate reachable."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from wamcp.core import MCPClient, MCPConnectionError

from .conftest import NETWORK_TRANSPORTS, Servers, Target

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by its own key (so no system CA trusts it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wamcp test server")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.mark.parametrize("transport", NETWORK_TRANSPORTS)
async def test_certificates_are_verified_unless_configured_otherwise(
    transport: str, servers: Servers, self_signed: tuple[Path, Path]
) -> None:
    cert, key = self_signed
    plain = servers.target(transport, "--tls-cert", str(cert), "--tls-key", str(key))
    secure = plain.endpoint.replace("http://", "https://").replace("ws://", "wss://")
    target = Target(transport, endpoint=secure)
    async with MCPClient() as client:
        client.add_server(target.config(name="strict"))
        client.add_server(target.config(name="lax", verify_tls=False))
        client.add_server(target.config(name="bundle", verify_tls=str(cert)))
        with pytest.raises(MCPConnectionError, match="TLS certificate not trusted") as caught:
            await client.connect("strict")
        lax = await client.execute_tool("lax", "echo", {"text": "unverified"})
        bundle = await client.execute_tool("bundle", "echo", {"text": "verified by bundle"})

    assert "verify_tls" in str(caught.value)
    assert lax["text"] == "unverified"
    assert bundle["text"] == "verified by bundle"
