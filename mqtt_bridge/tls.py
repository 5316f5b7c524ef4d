"""The TLS context for the broker, built from ``mqtt.tls`` with errors that name the key and file.

OpenSSL's own errors name neither (``[X509] PEM lib (_ssl.c:4154)``), so each file is loaded on
its own step: ``exist-bridge check`` and ``run`` call ``tls_context`` to prove the files parse, and
the broker link uses the same context. Neutral ground: ``config.checks`` and
``pipeline.input.mqtt`` both import it, and it imports neither.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path


class TlsFileError(ValueError):
    """A TLS file of ``mqtt.tls`` can't be used; ``key`` is its configuration key."""

    def __init__(self, key: str, path: str | os.PathLike[str], reason: str):
        self.key = key
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"mqtt.tls.{key}: {path}: {reason}")


def _why(err: BaseException) -> str:
    """`` (reason)`` from an ``ssl``/OS error, or nothing: OpenSSL's "[X509] PEM lib" has none."""
    if isinstance(err, ssl.SSLError):
        reason = err.reason if err.reason and err.reason != "PEM_LIB" else ""
        return f" ({reason.replace('_', ' ').lower()})" if reason else ""
    if isinstance(err, OSError) and err.strerror:
        return f" ({err.strerror})"
    return f" ({err})" if str(err) else ""


def _what(err: BaseException, expected: str) -> str:
    """Say why a file failed: an OS error means it could not be read, else it is not `expected`."""
    if isinstance(err, OSError) and not isinstance(err, ssl.SSLError):
        return f"can't read it{_why(err)}"
    return f"not {expected}{_why(err)}"


def _no_password() -> bytes:
    # Without a callback OpenSSL would prompt on the terminal for an encrypted key (and a service
    # would hang); this refuses instead.
    raise TlsFileError("keyfile", "?", "the key is encrypted")


def tls_context(
    ca_certs: str | os.PathLike[str] | None = None,
    certfile: str | os.PathLike[str] | None = None,
    keyfile: str | os.PathLike[str] | None = None,
) -> ssl.SSLContext:
    """A client ``SSLContext`` verifying the broker against ``ca_certs`` (default: the system's
    CAs), with the client certificate ``certfile`` (+ ``keyfile``, else the key is in
    ``certfile``) when given. Raises ``TlsFileError`` naming the key and file that failed."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED, hostname checked
    if ca_certs is not None:
        try:
            context.load_verify_locations(cafile=os.fspath(ca_certs))
        except (ssl.SSLError, OSError) as err:
            raise TlsFileError(
                "ca_certs", ca_certs, _what(err, "a PEM CA certificate file")
            ) from None
    else:
        context.load_default_certs()
    if certfile is not None:
        _load_client_cert(context, Path(certfile), Path(keyfile) if keyfile else None)
    return context


def _load_client_cert(context: ssl.SSLContext, certfile: Path, keyfile: Path | None) -> None:
    try:
        context.load_cert_chain(certfile, keyfile, password=_no_password)
        return
    except TlsFileError as err:  # the password callback: name the real file
        raise TlsFileError(
            "keyfile" if keyfile else "certfile", keyfile or certfile, err.reason
        ) from None
    except (ssl.SSLError, OSError) as err:
        failure = err
    # Which file? The certificate parses on its own, or it is the culprit.
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=certfile)
    except (ssl.SSLError, OSError) as err:
        raise TlsFileError("certfile", certfile, f"not a PEM certificate{_why(err)}") from None
    why = _why(failure)
    if keyfile is None:
        raise TlsFileError("certfile", certfile, f"no usable private key in it{why}")
    if "mismatch" in why:
        raise TlsFileError("keyfile", keyfile, f"does not match the certfile {certfile}")
    raise TlsFileError("keyfile", keyfile, f"not a PEM private key{why}")
