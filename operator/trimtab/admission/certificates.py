"""A self-signed serving certificate for the admission webhook.

Used when no certificate is mounted (for example from cert-manager): the apiserver trusts the
webhook through the caBundle of the webhook configuration, which is this very certificate.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=365)


@dataclass(frozen=True)
class ServingCertificate:
    """PEM-encoded certificate and private key."""

    certificate: bytes
    private_key: bytes


def self_signed_certificate(hostnames: Sequence[str]) -> ServingCertificate:
    """A certificate valid for every name or IP address in ``hostnames`` (the first is the CN)."""
    if not hostnames:
        raise ValueError("a serving certificate needs at least one host name or address")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName([_san(host) for host in hostnames]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return ServingCertificate(
        certificate=certificate.public_bytes(serialization.Encoding.PEM),
        private_key=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


RENEW_BEFORE = datetime.timedelta(days=30)
"""A kept certificate this close to its end is replaced."""


def still_usable(pem: ServingCertificate, hostnames: Sequence[str]) -> bool:
    """Whether a kept certificate names every host and has more than RENEW_BEFORE to run."""
    try:
        loaded = x509.load_pem_x509_certificate(pem.certificate)
        names = loaded.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return False
    remaining = loaded.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
    return remaining > RENEW_BEFORE and all(_san(host) in names for host in hostnames)
