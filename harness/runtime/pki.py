"""A certificate authority of the run's own, and the keys and certificates it issues.

A secured twin rehearses what breaks at deployment: a certificate issued for a short name while the job
connects by FQDN, a truststore missing on a node, a client without a certificate. So each run makes its
own CA (nothing is shared between runs or trusted beyond them) and issues one certificate per broker
with the names a team's CA would put in it (the node's FQDN and short name, and the addresses clients
use here), and client certificates for mutual TLS. Each identity is written as PEM (for
confluent-kafka, and Kafka's PEM stores) and as a PKCS12 keystore (for JVMs), with a truststore made
by the JDK's own `keytool`, so the stores are what Java reads. Private keys and stores are 0600;
passwords are generated per run and kept only in a 0600 file of the run, never in a log.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harness.dist.java import find_java
from harness.errors import HarnessError
from harness.runtime.private import write_secret
from harness.runtime.processes import run_tool

VALID_FOR = dt.timedelta(days=7)  # a run's certificates outlive any run, and no run's CA is worth keeping
PASSWORDS_FILE = "passwords.json"


@dataclass(frozen=True)
class Identity:
    """One issued identity's files: PEM certificate and key, and a PKCS12 keystore holding both with the CA."""

    name: str
    certificate: Path
    key: Path
    keystore: Path
    names: tuple[str, ...]  # the subject alternative names it holds, as a diagnosis quotes them


class RunAuthority:
    """The run's CA in `directory`: made once, then issuing server and client identities."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.certificate = directory / "ca.pem"
        self.truststore = directory / "truststore.p12"
        self._key_file = directory / "ca.key"
        if not self.certificate.exists():
            self._create()
        self._key = serialization.load_pem_private_key(self._key_file.read_bytes(), password=None)
        self._cert = x509.load_pem_x509_certificate(self.certificate.read_bytes())

    # ----- the CA ------------------------------------------------------------------------------

    def _create(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"kafka-spark-harness run CA {secrets.token_hex(4)}")])
        now = dt.datetime.now(dt.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + VALID_FOR)
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                             key_encipherment=False, data_encipherment=False, key_agreement=False,
                                             encipher_only=False, decipher_only=False), critical=True)
                .sign(key, hashes.SHA256()))
        write_secret(self._key_file, _pem_key(key))
        self.certificate.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self._keytool(["-importcert", "-noprompt", "-alias", "run-ca", "-file", str(self.certificate),
                       "-keystore", str(self.truststore), "-storetype", "PKCS12", "-storepass", self.password("truststore")])
        os.chmod(self.truststore, 0o600)

    def password(self, store: str) -> str:
        """The generated password of one store (made on first use, kept in the run's 0600 passwords file)."""
        path = self.directory / PASSWORDS_FILE
        known = json.loads(path.read_text()) if path.exists() else {}
        if store not in known:
            known[store] = secrets.token_urlsafe(18)
            write_secret(path, json.dumps(known).encode())
        return str(known[store])

    # ----- issuing ---------------------------------------------------------------------------------

    def identity(self, name: str) -> Identity | None:
        """An identity issued earlier in this run (a twin attached by another process reuses it), or None."""
        base = self.directory / name
        certificate, key, keystore = base.with_suffix(".pem"), base.with_suffix(".key"), base.with_suffix(".p12")
        if not (certificate.exists() and key.exists() and keystore.exists()):
            return None
        leaf = x509.load_pem_x509_certificates(certificate.read_bytes())[0]
        sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = (*sans.get_values_for_type(x509.DNSName), *(str(a) for a in sans.get_values_for_type(x509.IPAddress)))
        return Identity(name, certificate, key, keystore, names)

    def issue_server(self, name: str, *, dns_names: Sequence[str], addresses: Sequence[str] = ()) -> Identity:
        """A broker's identity. `dns_names` are what a client may connect by (an HDInsight guide issues the
        FQDN and the short name); leave the FQDN out to rehearse a certificate that fails verification.
        It serves clients and, for the brokers' own connections to each other, is a client too."""
        sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
        sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
        return self._issue(name, sans, [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH], (*dns_names, *addresses))

    def issue_client(self, principal: str) -> Identity:
        """A client's identity for mutual TLS; the broker sees `CN=<principal>` as its principal."""
        return self._issue(principal, [x509.DNSName(principal)], [ExtendedKeyUsageOID.CLIENT_AUTH], (principal,))

    def _issue(self, name: str, sans: list[x509.GeneralName], usages: list[x509.ObjectIdentifier], names: tuple[str, ...]) -> Identity:
        if not names:
            raise HarnessError(f"a certificate for {name} needs at least one name or address")
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                .issuer_name(self._cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + VALID_FOR)
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
                .sign(self._key, hashes.SHA256()))  # type: ignore[arg-type]
        base = self.directory / name
        certificate, key_file, keystore = base.with_suffix(".pem"), base.with_suffix(".key"), base.with_suffix(".p12")
        certificate.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + self.certificate.read_bytes())  # chain: leaf, then CA
        write_secret(key_file, _pem_key(key))
        store = pkcs12.serialize_key_and_certificates(name.encode(), key, cert, [self._cert],
                                                      serialization.BestAvailableEncryption(self.password(name).encode()))
        write_secret(keystore, store)
        return Identity(name, certificate, key_file, keystore, names)

    def _keytool(self, args: list[str]) -> None:
        run_tool([str(find_java().home / "bin" / "keytool"), *args], what="keytool writing the run's truststore")


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())

