"""
Storage values of the command line, and the passwords in them.

A storage is given as a path (SQLite file, ``*.log`` journal file), an Optuna storage URL, or a reference to where
the URL is kept, so that no password has to be typed where ``ps`` and the shell history show it:

- ``env:NAME``: the URL is the value of the environment variable ``NAME``
  (``export OPTUNA_STORAGE=postgresql://alice:PASSWORD@host/optuna``, then ``--storage env:OPTUNA_STORAGE``);
- ``file:PATH``: the URL is the first line of the file ``PATH`` (keep it readable by its owner only: ``chmod 600``).

PostgreSQL also takes a URL without password (``postgresql://alice@host/optuna``): libpq then reads the password
from the ``PGPASSWORD`` environment variable or from ``~/.pgpass`` (one ``host:port:database:user:password`` line,
mode 600).

Every message, log and progress line of the package that names a storage shows it through :func:`mask_url`, which
replaces the password by ``***``, also in malformed URLs (a bad port, a missing scheme).
"""

import os
import re
from pathlib import Path
from urllib.parse import quote, unquote

MASK = "***"
ENV_PREFIX = "env:"
FILE_PREFIX = "file:"
# ``password=...`` in a URL's query string (libpq takes it there too)
_QUERY_PASSWORD = re.compile(r"(?i)([?&]password=)[^&]*")


def _userinfo_end(url: str) -> tuple[int, int]:
    """
    ``(start, end)`` of the user information (``user:password``) of a URL, or of a URL whose scheme is missing
    (``user:password@host/db``); ``end`` is the position of the last ``@`` before the path, -1 if there is none.
    A password with an unencoded ``@`` stays in the user information (and is masked whole).
    """
    start = url.find("://")
    start = 0 if start < 0 else start + 3
    rest = url[start:]
    first = rest.find("@")
    if rest.startswith("/") or first < 0:  # sqlite:///path: no host, no user
        return start, -1
    # The host part ends at the first '/' or '?' after the first '@' (a '@' in the path or query is not a separator)
    ends = [at for at in (rest.find("/", first), rest.find("?", first)) if at >= 0]
    return start, start + rest.rfind("@", 0, min(ends) if ends else len(rest))


def mask_url(storage: str) -> str:
    """
    The storage value with its password replaced by ``***`` (the user and host stay, to tell storages apart):
    ``postgresql://alice:S3cret@host/optuna`` gives ``postgresql://alice:***@host/optuna``. Works on malformed
    values too (a bad port, a missing scheme, a password with an unencoded ``@``), and masks ``password=`` in the
    query string. A value without password is returned unchanged.

    :param storage: A storage value or URL
    """
    text = str(storage)
    start, end = _userinfo_end(text)
    if end >= 0:
        userinfo = text[start:end]
        if ":" in userinfo:
            text = f"{text[:start]}{userinfo.split(':', 1)[0]}:{MASK}{text[end:]}"
    return _QUERY_PASSWORD.sub(lambda match: match.group(1) + MASK, text)


def secrets_of(storage: str) -> list[str]:
    """The passwords in a storage value, as written and percent-decoded (to remove them from other messages)."""
    text = str(storage)
    found = []
    start, end = _userinfo_end(text)
    if end >= 0 and ":" in text[start:end]:
        found.append(text[start:end].split(":", 1)[1])
    found += [match.group(0).split("=", 1)[1] for match in _QUERY_PASSWORD.finditer(text)]
    found = [secret for secret in found if secret]
    return sorted({*found, *(unquote(secret) for secret in found)}, key=len, reverse=True)


def redact(message: str, storage: str) -> str:
    """``message`` (e.g. a driver's error) with every password of ``storage`` replaced by ``***``."""
    for secret in secrets_of(storage):
        message = message.replace(secret, MASK)
    return message


def check_url(url: str) -> None:
    """
    A ``ValueError`` (without the password) for a database URL whose password holds an unencoded ``@``, which
    makes the rest of the password look like the host.

    :param url: A storage URL
    """
    start, end = _userinfo_end(url)
    if end >= 0 and "://" in url and "@" in url[start:end]:
        raise ValueError(
            f"The password of the storage URL {mask_url(url)!r} holds an unencoded '@': percent-encode it "
            f"('@' is {quote('@')}; in Python: urllib.parse.quote(password, safe='')), or leave the password out of "
            "the URL and give it with PGPASSWORD or ~/.pgpass (PostgreSQL)"
        )


def resolve_storage(storage: str) -> str:
    """
    The storage value itself: ``env:NAME`` is the value of the environment variable ``NAME``, ``file:PATH`` the
    first line of the file ``PATH``; any other value is returned as it is.

    :param storage: A command-line storage value
    """
    if storage.startswith(ENV_PREFIX):
        name = storage[len(ENV_PREFIX) :]
        value = os.environ.get(name, "").strip()
        if not value:
            raise ValueError(f"--storage {storage}: the environment variable {name!r} is not set (or empty)")
        return value
    if storage.startswith(FILE_PREFIX):
        path = Path(storage[len(FILE_PREFIX) :]).expanduser()
        try:
            lines = path.read_text().strip().splitlines()
        except OSError as error:
            raise ValueError(f"--storage {storage}: cannot read the file: {error.strerror}") from None
        if not lines or not lines[0].strip():
            raise ValueError(f"--storage {storage}: the file is empty; write the storage URL on its first line")
        return lines[0].strip()
    return storage
