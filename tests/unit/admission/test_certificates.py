"""Self-signed serving certificates: the names they carry and when a kept one is replaced."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509

from trimtab.admission import certificates
from trimtab.admission.certificates import (
    ServingCertificate,
    self_signed_certificate,
    still_usable,
)

HOSTS = ["trimtab-webhook.trimtab-system.svc", "localhost", "127.0.0.1"]


def test_names_every_host_and_address() -> None:
    pem = self_signed_certificate(HOSTS)
    names = (
        x509.load_pem_x509_certificate(pem.certificate)
        .extensions.get_extension_for_class(x509.SubjectAlternativeName)
        .value
    )
    assert names.get_values_for_type(x509.DNSName) == HOSTS[:2]
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]


def test_usable_needs_every_host_and_time_to_run() -> None:
    pem = self_signed_certificate(HOSTS)
    assert still_usable(pem, HOSTS)
    assert still_usable(pem, HOSTS[:1])
    assert not still_usable(pem, [*HOSTS, "10.0.0.1"])
    assert not still_usable(ServingCertificate(b"not a certificate", b""), HOSTS)


def test_a_certificate_ending_soon_is_not_usable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(certificates, "VALIDITY", datetime.timedelta(days=20))
    assert not still_usable(self_signed_certificate(HOSTS), HOSTS)
