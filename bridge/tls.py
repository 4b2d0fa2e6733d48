"""The server's TLS files: read and checked before anything uses them, then served to gRPC
through a certificate fetcher and to REST through an ssl context that can be swapped.

gRPC and ssl would only say that a key does not match its certificate at the first
handshake, long after ``serve`` reported itself up; so every file is checked here first,
with ``cryptography``, on the very bytes that are then handed over. A reload (SIGHUP)
builds everything anew and replaces the old material only when all of it loads.
"""

from __future__ import annotations

import datetime as dt
import ssl
import threading
from dataclasses import dataclass

import grpc
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from .config import TlsConfig
from .exitcodes import StartupFailure


class TlsError(StartupFailure):
    """One line naming the [server.tls] key and what is wrong with its file."""


@dataclass(frozen=True)
class Material:
    """The PEM bytes of a usable [server.tls]: the chain, its key, and the client roots."""

    config: TlsConfig
    chain: bytes
    key: bytes
    roots: bytes | None
    leaf: x509.Certificate


def load(tls: TlsConfig, now: dt.datetime | None = None) -> Material:
    """Read and check every file: PEM, the key matching the leaf certificate, not expired."""
    chain, key, roots = _read(tls, "cert_file"), _read(tls, "key_file"), None
    try:
        certificates = x509.load_pem_x509_certificates(chain)
    except ValueError:
        raise TlsError(f"[server.tls] cert_file: {tls.cert_file}: not a PEM certificate") from None
    leaf = certificates[0]
    try:
        private = serialization.load_pem_private_key(key, password=None)
    except TypeError:  # cryptography's way of saying the key wants a password
        raise TlsError(f"[server.tls] key_file: {tls.key_file}: encrypted; gRPC needs the key unencrypted") from None
    except (ValueError, UnsupportedAlgorithm):
        raise TlsError(f"[server.tls] key_file: {tls.key_file}: not a PEM private key") from None
    if _spki(private.public_key()) != _spki(leaf.public_key()):
        raise TlsError(f"[server.tls] key_file: {tls.key_file} is not the key of {tls.cert_file}")
    now = now or dt.datetime.now(dt.timezone.utc)
    if leaf.not_valid_after_utc < now:
        raise TlsError(f"[server.tls] cert_file: {tls.cert_file}: expired on {leaf.not_valid_after_utc:%Y-%m-%d}")
    if tls.client_ca_file:
        roots = _read(tls, "client_ca_file")
        try:
            x509.load_pem_x509_certificates(roots)
        except ValueError:
            raise TlsError(f"[server.tls] client_ca_file: {tls.client_ca_file}: not a PEM certificate") from None
    return Material(config=tls, chain=chain, key=key, roots=roots, leaf=leaf)


def problems(tls: TlsConfig | None) -> list[str]:
    """For ``check`` and ``serve``: the one problem with the TLS files, if any."""
    if tls is None:
        return []
    try:
        load(tls)
    except TlsError as exc:
        return [str(exc)]
    return []


def _read(tls: TlsConfig, key: str) -> bytes:
    path = getattr(tls, key)
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise TlsError(f"[server.tls] {key}: {path}: {exc.strerror or exc}") from None


def _spki(public_key: object) -> bytes:
    return public_key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


class ServerTls:
    """The live TLS material of both fronts; ``replace`` swaps it for new connections only,
    so calls on connections already open carry on with the certificate they started with."""

    def __init__(self, tls: TlsConfig):
        self.material = load(tls)
        self._lock = threading.Lock()
        # gRPC asks for a new configuration before every handshake; None means "keep".
        self._pending: grpc.ServerCertificateConfiguration | None = None
        self._rest = self._rest_context(self.material)
        self._listening: ssl.SSLContext | None = None

    @property
    def requires_client_certificate(self) -> bool:
        return self.material.roots is not None

    def grpc_credentials(self) -> grpc.ServerCredentials:
        return grpc.dynamic_ssl_server_credentials(
            _configuration(self.material),
            self._fetch,
            require_client_authentication=self.requires_client_certificate,
        )

    def rest_context(self) -> ssl.SSLContext:
        """The context the REST listener is created with. Its server-name callback, which
        ssl runs on every handshake (with or without SNI), hands the connection the context
        of the current material: a listener cannot be given a new context once open."""
        if self._listening is None:
            self._listening = self._rest_context(self.material)
            self._listening.sni_callback = self._pick_rest_context
        return self._listening

    def replace(self, tls: TlsConfig) -> Material:
        """Load ``tls`` and make it current; TlsError (nothing changed) when it does not load,
        or would change whether clients must present a certificate (a restart does that)."""
        material = load(tls)
        if (material.roots is not None) != self.requires_client_certificate:
            raise TlsError("[server.tls] client_ca_file: set or removed; that takes a restart")
        rest = self._rest_context(material)
        with self._lock:
            self.material, self._rest = material, rest
            self._pending = _configuration(material)
        return material

    def _fetch(self) -> grpc.ServerCertificateConfiguration | None:
        # Runs on gRPC's own threads, hence the lock: a configuration set by ``replace``
        # between reading and clearing would otherwise be lost.
        with self._lock:
            pending, self._pending = self._pending, None
        return pending

    def _pick_rest_context(self, connection: ssl.SSLObject, name: str | None, context: ssl.SSLContext) -> None:
        connection.context = self._rest

    @staticmethod
    def _rest_context(material: Material) -> ssl.SSLContext:
        # ssl loads certificates from files only; these are the files just checked. The REST
        # front authenticates Google by HTTP Basic, not by a client certificate.
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(material.config.cert_file, material.config.key_file)
        except (OSError, ssl.SSLError) as exc:
            raise TlsError(f"[server.tls] cert_file, key_file: {exc}") from None
        return context


def _configuration(material: Material) -> grpc.ServerCertificateConfiguration:
    return grpc.ssl_server_certificate_configuration([(material.key, material.chain)], material.roots)
