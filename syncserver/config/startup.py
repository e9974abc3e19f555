"""Start-up checks: each failure is one line an operator can act on (what is wrong, with
which path or flag, and what to do), raised before anything is served. The database's own
checks are its backend's (storage/factory.py; SQLite: storage/sqlite/startup.py).
"""

from __future__ import annotations

from .settings import Settings


class StartupError(Exception):
    """str() is the one line the command prints before it exits."""


class DatabaseBusy(StartupError):
    """Another syncserver process holds the database."""


def check_tls(settings: Settings) -> None:
    """The certificate and key load and belong together, checked before anything is served
    (uvicorn would only find out once it runs, after the server said it serves)."""
    if not settings.tls:
        return
    import ssl

    def no_password() -> bytes:  # never OpenSSL's prompt on the terminal
        raise StartupError(
            f"--ssl-keyfile {settings.ssl_keyfile} is encrypted: give the key without a "
            "passphrase (readable by the server's user only)")

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(settings.ssl_certfile, settings.ssl_keyfile, no_password)
    except ssl.SSLError as exc:
        reason = (exc.reason or "").lower().replace("_", " ")
        what = "the key does not belong to the certificate" if "mismatch" in reason else \
            "not a PEM certificate and its private key" + (f" ({reason})" if reason else "")
        raise StartupError(
            f"cannot serve HTTPS with --ssl-certfile {settings.ssl_certfile} and "
            f"--ssl-keyfile {settings.ssl_keyfile}: {what}; give the certificate (PEM, its "
            "chain after it) and the private key it was issued for") from None
    except OSError as exc:
        raise StartupError(f"cannot read --ssl-certfile {settings.ssl_certfile} or "
                           f"--ssl-keyfile {settings.ssl_keyfile} ({exc.strerror})") from None
