"""The run's own CA: certificates with the names clients verify, stores Java reads, keys nobody else reads.

The handshakes run on loopback only, between a server and a client this test makes."""

from __future__ import annotations

import socket
import ssl
import stat
import subprocess
import threading
from pathlib import Path

import pytest

from harness.dist.java import find_java
from harness.runtime.pki import PASSWORDS_FILE, RunAuthority


def _handshake(ca: Path, certificate: Path, key: Path, server_hostname: str) -> None:
    """A TLS handshake on loopback against a server presenting `certificate`; raises as a client would."""
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(certificate, key)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def serve() -> None:
            conn, _ = listener.accept()
            try:
                with server_context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (ssl.SSLError, OSError):
                pass

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        client = ssl.create_default_context(cafile=str(ca))  # hostname verification on, as Kafka clients have it by default
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, client.wrap_socket(raw, server_hostname=server_hostname) as tls:
                tls.sendall(b"x")
        finally:
            thread.join(timeout=10)


def test_a_broker_certificate_verifies_by_fqdn_short_name_and_address_and_fails_by_another(tmp_path: Path) -> None:
    ca = RunAuthority(tmp_path / "pki")
    broker = ca.issue_server("wn0-kafka", dns_names=["wn0-kafka.abc.cx.internal.cloudapp.net", "wn0-kafka"], addresses=["127.0.0.1"])
    for name in ("wn0-kafka.abc.cx.internal.cloudapp.net", "wn0-kafka", "127.0.0.1"):
        _handshake(ca.certificate, broker.certificate, broker.key, name)
    with pytest.raises(ssl.SSLCertVerificationError, match="match"):
        _handshake(ca.certificate, broker.certificate, broker.key, "wn1-kafka")


def test_a_certificate_issued_without_the_fqdn_fails_a_client_that_connects_by_fqdn(tmp_path: Path) -> None:
    ca = RunAuthority(tmp_path / "pki")
    short_only = ca.issue_server("wn0-kafka", dns_names=["wn0-kafka"])
    assert short_only.names == ("wn0-kafka",)
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(ca.certificate, short_only.certificate, short_only.key, "wn0-kafka.abc.cx.internal.cloudapp.net")


def test_another_runs_ca_is_not_trusted(tmp_path: Path) -> None:
    mine, theirs = RunAuthority(tmp_path / "mine"), RunAuthority(tmp_path / "theirs")
    broker = theirs.issue_server("wn0-kafka", dns_names=["wn0-kafka"])
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(mine.certificate, broker.certificate, broker.key, "wn0-kafka")


def test_java_reads_the_stores_with_their_generated_passwords_and_keys_are_private(tmp_path: Path) -> None:
    ca = RunAuthority(tmp_path / "pki")
    broker = ca.issue_server("wn0-kafka", dns_names=["wn0-kafka"])
    client = ca.issue_client("stock-job")
    keytool = find_java().home / "bin" / "keytool"
    for store, password, kind in ((ca.truststore, ca.password("truststore"), "trustedCertEntry"), (broker.keystore, ca.password("wn0-kafka"), "PrivateKeyEntry"),
                                  (client.keystore, ca.password("stock-job"), "PrivateKeyEntry")):
        listing = subprocess.run([str(keytool), "-list", "-keystore", str(store), "-storetype", "PKCS12", "-storepass", password],
                                 capture_output=True, text=True, timeout=120, check=False)
        assert listing.returncode == 0 and kind in listing.stdout, listing.stdout + listing.stderr
    wrong = subprocess.run([str(keytool), "-list", "-keystore", str(broker.keystore), "-storetype", "PKCS12", "-storepass", "not-it"],
                           capture_output=True, text=True, timeout=120, check=False)
    assert wrong.returncode != 0
    secrets_ = [tmp_path / "pki" / "ca.key", broker.key, broker.keystore, client.key, ca.truststore, tmp_path / "pki" / PASSWORDS_FILE]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in secrets_)
    assert ca.password("wn0-kafka") == RunAuthority(tmp_path / "pki").password("wn0-kafka")  # kept for the run, not remade
    assert ca.password("wn0-kafka") != ca.password("stock-job")
