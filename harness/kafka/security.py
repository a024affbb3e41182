"""How a client reaches a secured twin: the same credentials in the two dialects clients speak.

confluent-kafka (librdkafka) reads PEM files; the JVM clients, and so Spark's Kafka connector with its
`kafka.` prefix, read PKCS12 stores. Both are made from the run's own CA (`harness.runtime.pki`), so
the harness's own clients and a team's job verify the brokers the same way: by the CA and the name they
connect by (hostname verification stays on, as it is by default in both).

The harness's clients are made from a bootstrap string in many places (admin, replay, read-back, sink
readers); rather than thread credentials through each, a twin registers its security for each of its
endpoints, and `librdkafka_settings` finds it from any one of them, a subset of brokers included.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CA needs `cryptography`, which a node's Python (docker images) does not have
    from harness.runtime.pki import RunAuthority

HARNESS_PRINCIPAL = "harness"
"""Who the harness's own clients are: the client certificate they present under mutual TLS (`CN=harness`),
and under SASL a SCRAM user that is a super user (it creates topics and ACLs, replays, reads back)."""


@dataclass(frozen=True)
class ClientSecurity:
    """One client identity's settings for a twin. `secrets` are the values no log or report may show, by the
    name the run's passwords file keeps them under."""

    protocol: str  # Kafka's security.protocol: PLAINTEXT, SSL or SASL_SSL
    librdkafka: Mapping[str, str] = field(default_factory=dict)
    java: Mapping[str, str] = field(default_factory=dict, repr=False)  # holds store passwords: never in a repr
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def secured(self) -> bool:
        return self.protocol != "PLAINTEXT"

    def masked(self, value: str) -> str:
        """`value` with every secret in it replaced by the name the passwords file keeps it under (a JAAS
        line holds a password inside it)."""
        for name, secret in self.secrets.items():
            value = value.replace(secret, f"<{name}>")
        return value

    def spark_options(self) -> dict[str, str]:
        """The connector's options (`kafka.` + the Java client's property), for readStream and write alike."""
        return {f"kafka.{key}": value for key, value in self.java.items()}


PLAINTEXT = ClientSecurity("PLAINTEXT")


SCRAM_MECHANISM = "SCRAM-SHA-512"


def scram_password_name(principal: str) -> str:
    """The key of a SCRAM user's password in the run's passwords file."""
    return f"scram-{principal}"


def scram_jaas(username: str, password: str) -> str:
    """The JAAS line a Java client (or a broker, for its own connections) logs in with over SCRAM."""
    return f'org.apache.kafka.common.security.scram.ScramLoginModule required username="{username}" password="{password}";'


def client_security(authority: RunAuthority | None, protocol: str, principal: str = HARNESS_PRINCIPAL) -> ClientSecurity:
    """What a client of a twin secured by `protocol` (plaintext, tls, mtls, sasl_ssl) needs, from the run's
    CA: the CA to trust; under mTLS the harness's client identity (issued once per run); under SASL the
    SCRAM user `principal` and its generated password."""
    if protocol == "plaintext" or authority is None:
        return PLAINTEXT
    trust_password = authority.password("truststore")
    kind = "SASL_SSL" if protocol == "sasl_ssl" else "SSL"
    librdkafka = {"security.protocol": kind, "ssl.ca.location": str(authority.certificate), "ssl.endpoint.identification.algorithm": "https"}
    java = {"security.protocol": kind, "ssl.truststore.type": "PKCS12", "ssl.truststore.location": str(authority.truststore),
            "ssl.truststore.password": trust_password, "ssl.endpoint.identification.algorithm": "https"}
    secrets = {"truststore": trust_password}
    if protocol == "mtls":
        identity = authority.identity(HARNESS_PRINCIPAL) or authority.issue_client(HARNESS_PRINCIPAL)
        key_password = authority.password(HARNESS_PRINCIPAL)
        librdkafka |= {"ssl.certificate.location": str(identity.certificate), "ssl.key.location": str(identity.key)}
        java |= {"ssl.keystore.type": "PKCS12", "ssl.keystore.location": str(identity.keystore),
                 "ssl.keystore.password": key_password, "ssl.key.password": key_password}
        secrets[HARNESS_PRINCIPAL] = key_password
    if protocol == "sasl_ssl":
        password = authority.password(scram_password_name(principal))
        librdkafka |= {"sasl.mechanisms": SCRAM_MECHANISM, "sasl.username": principal, "sasl.password": password}
        java |= {"sasl.mechanism": SCRAM_MECHANISM, "sasl.jaas.config": scram_jaas(principal, password)}
        secrets[scram_password_name(principal)] = password
    return ClientSecurity(kind, librdkafka, java, secrets)


# ----- the twins this process talks to -------------------------------------------------------------

_BY_ENDPOINT: dict[str, ClientSecurity] = {}


def register(endpoints: Iterable[str], security: ClientSecurity) -> None:
    """Every client this process makes for one of `endpoints` uses `security` (a twin calls this when it
    starts or is attached; plaintext twins need not)."""
    for endpoint in endpoints:
        _BY_ENDPOINT[endpoint.strip()] = security


def for_bootstrap(bootstrap: str) -> ClientSecurity:
    """The security registered for the first known endpoint of `bootstrap`; plaintext when none is."""
    for endpoint in bootstrap.split(","):
        found = _BY_ENDPOINT.get(endpoint.strip())
        if found is not None:
            return found
    return PLAINTEXT

