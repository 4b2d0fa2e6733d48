"""Certificates minted at run time for the TLS tests: CAs, server and client certificates
with whatever names a test needs, written as PEM files into the test's own folder."""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import pathlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

GOOGLE_CLIENT_NAME = "mapsbooking.businesslink-3.net"


@dataclasses.dataclass(frozen=True)
class Issued:
    cert: pathlib.Path
    key: pathlib.Path
    serial: int

    def pair(self) -> tuple[bytes, bytes]:
        """(key, chain) as gRPC's credentials take them."""
        return self.key.read_bytes(), self.cert.read_bytes()


class Authority:
    """A throwaway CA that writes what it issues into ``folder``."""

    def __init__(self, folder: pathlib.Path, name: str):
        self.folder, self.name = folder, name
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = _name(name)
        self._cert = (
            _builder(subject, subject, self._key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.roots = folder / f"{_file(name)}.ca.pem"
        self.roots.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))

    def server(self, file: str, cn: str = "localhost", *, expired: bool = False) -> Issued:
        sans = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        return self.issue(file, cn, ExtendedKeyUsageOID.SERVER_AUTH, sans, expired=expired)

    def client(self, file: str, cn: str = GOOGLE_CLIENT_NAME, dns: list[str] | None = None) -> Issued:
        """A client certificate; ``dns`` names go into a subject alternative name."""
        sans = [x509.DNSName(name) for name in dns] if dns is not None else None
        return self.issue(file, cn, ExtendedKeyUsageOID.CLIENT_AUTH, sans)

    def issue(self, file: str, cn: str, usage: x509.ObjectIdentifier,
              sans: list[x509.GeneralName] | None = None, *, expired: bool = False) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            _builder(_name(cn), self._cert.subject, key.public_key(), expired=expired)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        issued = Issued(cert=self.folder / f"{file}.pem", key=self.folder / f"{file}.key", serial=cert.serial_number)
        issued.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        issued.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()))
        return issued


def serial_of(der: bytes) -> int:
    return x509.load_der_x509_certificate(der).serial_number


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _file(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name)


def _builder(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey,
             *, expired: bool = False) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.timezone.utc) - (dt.timedelta(days=3) if expired else dt.timedelta(0))
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
    )
