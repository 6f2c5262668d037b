"""``eo node`` reaches its broker over TLS with the files its config names.

The broker asks for a client certificate (``require_certificate``), so the
node's own certificate and key are used, not only the CA.
"""

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
import getpass
import ipaddress
import json
from pathlib import Path
import ssl
import subprocess

import aiomqtt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
import pytest
import yaml

from eo_lab.sim.simulated_site import SimulatedSite

from .conftest import ACL, USERS, Broker, free_port, run_node


def _certificate(
    folder: Path,
    name: str,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """Write ``name``.crt and .key, signed by the issuer (self-signed: a CA)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer[0].subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(
                (issuer[1] if issuer else key).public_key()
            ),
            critical=False,
        )
    )
    if issuer is None:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    if name == "broker":
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    certificate = builder.sign(issuer[1] if issuer else key, hashes.SHA256())
    (folder / f"{name}.crt").write_bytes(
        certificate.public_bytes(serialization.Encoding.PEM)
    )
    (folder / f"{name}.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certificate, key


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[Broker]:
    """Run Mosquitto on TLS only, with passwords, the ACL and client certificates."""
    folder = tmp_path / "broker"
    folder.mkdir()
    ca = _certificate(folder, "ca", None)
    _certificate(folder, "broker", ca)
    _certificate(folder, "shed", ca)
    passwords = folder / "passwd"
    passwords.touch(mode=0o600)
    for user, password in USERS.items():
        subprocess.run(
            ["mosquitto_passwd", "-b", str(passwords), user, password],
            check=True,
            capture_output=True,
        )
    acl = folder / "acl"
    acl.write_text(ACL.read_text())
    acl.chmod(0o600)
    port = free_port()
    (folder / "mosquitto.conf").write_text(
        "per_listener_settings false\nallow_anonymous false\n"
        f"password_file {passwords}\nacl_file {acl}\npersistence false\n"
        f"user {getpass.getuser()}\n"
        f"listener {port} 127.0.0.1\n"
        f"cafile {folder / 'ca.crt'}\ncertfile {folder / 'broker.crt'}\n"
        f"keyfile {folder / 'broker.key'}\nrequire_certificate true\n"
    )
    broker = Broker(folder, port)
    broker.start()
    yield broker
    broker.stop()


async def test_node_publishes_over_tls_with_its_certificate(
    tmp_path: Path, tls_broker: Broker, site: SimulatedSite
) -> None:
    """The node connects with the config's CA, certificate and key; state arrives."""
    certs = tls_broker.folder
    config = tmp_path / "shed.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "node": "shed",
                "mqtt": {
                    "host": "127.0.0.1",
                    "port": tls_broker.port,
                    "username": "shed",
                    "password": USERS["shed"],
                    "tls": {
                        "ca": str(certs / "ca.crt"),
                        "cert": str(certs / "shed.crt"),
                        "key": str(certs / "shed.key"),
                    },
                },
                "components": [{"id": "meter1", "family": "sdm630", "url": site.url}],
            }
        )
    )
    context = ssl.create_default_context(cafile=str(certs / "ca.crt"))
    context.load_cert_chain(str(certs / "shed.crt"), str(certs / "shed.key"))
    async with (
        aiomqtt.Client(
            "127.0.0.1",
            tls_broker.port,
            username="homeassistant",
            password=USERS["homeassistant"],
            tls_context=context,
        ) as client,
        run_node(config) as node,
    ):
        await client.subscribe("energy_orchestrator/shed/meter1/state")
        async with asyncio.timeout(30):
            async for message in client.messages:
                state = json.loads(message.payload)  # type: ignore[arg-type]
                if state["available"]:
                    break
        assert state["values"]["grid_power"]["unit"] == "W"
        assert "connected to 127.0.0.1" in node.output()
