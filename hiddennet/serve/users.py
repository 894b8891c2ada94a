"""Dashboard users: `<run>/dashboard_users.json`, read live so that a removed user or a rotated
token loses access on the next request and a new token works at once.

Tokens are never stored: the file holds the SHA-256 of each token (tokens are 256-bit random, so a
fast hash is enough). The file is written owner-only and replaced atomically, so a reader never
sees half a file.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hiddennet import fsio
from hiddennet.errors import OutputError, SettingsError

ROLES = ("analyst", "intelligence_officer", "safeguarding_lead")
USERS_FILE = "dashboard_users.json"

UsersSource = Path | str | Iterable[Mapping[str, Any]] | None


@dataclass(frozen=True)
class User:
    name: str
    role: str
    token_sha256: str
    areas: tuple[str, ...] = ()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def users_path(run_dir: Path) -> Path:
    return Path(run_dir) / USERS_FILE


def parse_users(entries: Iterable[Mapping[str, Any]], where: str) -> dict[str, User]:
    users = {}
    for i, e in enumerate(entries):
        name, role, digest = e.get("name"), e.get("role"), str(e.get("token_sha256", "")).lower()
        areas = e.get("areas") or []
        if not name or role not in ROLES or len(digest) != 64 or not isinstance(areas, list):
            raise OutputError(
                f"file {where}: user entry {i + 1}: needs name, a role in {', '.join(ROLES)}, a 64-hex token_sha256 "
                "and areas as a list"
            )
        users[str(name)] = User(str(name), str(role), digest, tuple(str(a) for a in areas))
    return users


def _parse_text(text: str, path: Path) -> dict[str, User]:
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except ValueError:
        raise OutputError(f"file {path}: users file is not readable TOML or JSON") from None
    entries = data.get("users", []) if isinstance(data, dict) else []
    return parse_users(entries, str(path))


def load_users(source: UsersSource, run_dir: Path) -> dict[str, User]:
    """Users from a TOML or JSON file (`[[users]]` / `{"users": [...]}` with name, role,
    token_sha256 and optional areas), from a list of such mappings, or from
    `<run>/dashboard_users.json`. No users file means no one can sign in (default deny)."""
    if source is None:
        source = users_path(run_dir)
        if not source.is_file():
            return {}
    if isinstance(source, (str, Path)):
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeError):
            raise OutputError(f"file {path}: users file is not readable TOML or JSON") from None
        return _parse_text(text, path)
    return parse_users(list(source), "users")


class UserStore:
    """The users, re-read on every look-up when they come from a file: the file's bytes are hashed
    and parsed again only when they change (so an edit within one mtime tick is still seen). A file
    that becomes unreadable or invalid lets nobody in until it is fixed (fail closed)."""

    def __init__(self, source: UsersSource, run_dir: Path):
        self._path: Path | None = None
        self._users: dict[str, User] = {}
        self._digest: str | None = None
        self._lock = threading.Lock()
        if source is None:
            self._path = users_path(run_dir)
        elif isinstance(source, (str, Path)):
            self._path = Path(source)
        else:
            self._users = parse_users(list(source), "users")
        if self._path is not None:
            self.current()  # a broken file at start-up is an error the operator sees at once

    def current(self) -> dict[str, User]:
        if self._path is None:
            return self._users
        try:
            raw = self._path.read_bytes()
        except FileNotFoundError:
            raw = b""
        digest = hashlib.sha256(raw).hexdigest()
        with self._lock:
            if digest != self._digest:
                users = _parse_text(raw.decode("utf-8", "replace"), self._path) if raw else {}
                self._users, self._digest = users, digest
            return self._users

    def safe_current(self) -> dict[str, User]:
        try:
            return self.current()
        except OutputError:
            return {}  # fail closed

    def by_token(self, token: str, name: str | None = None) -> User | None:
        digest = hash_token(token)
        found = None
        for u in self.safe_current().values():
            if hmac.compare_digest(u.token_sha256, digest) and (name is None or u.name == name):
                found = u
        return found

    def get(self, name: str) -> User | None:
        return self.safe_current().get(name)


# -- the users file, as the `hiddennet users` command edits it -------------------------------------


def _read_entries(run_dir: Path) -> list[dict]:
    path = users_path(run_dir)
    if not path.is_file():
        return []
    parse_users(_raw_entries(path), str(path))  # refuse to edit a broken file
    return _raw_entries(path)


def _raw_entries(path: Path) -> list[dict]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise OutputError(f"file {path}: users file is not readable JSON") from None
    return list(data.get("users", [])) if isinstance(data, dict) else []


def _write_entries(run_dir: Path, entries: list[dict]) -> None:
    path = users_path(run_dir)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fsio.write_private(tmp, json.dumps({"users": entries}, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)  # atomic: the live reader sees the old file or the new one


def add_user(run_dir: Path, name: str, role: str, areas: Iterable[str] = ()) -> str:
    """Add (or replace) a user and return their new token. The token is shown once, here."""
    if role not in ROLES:
        raise SettingsError(f"role must be one of {', '.join(ROLES)}")
    if not name or not name.strip():
        raise SettingsError("user name must not be empty")
    token = new_token()
    entries = [u for u in _read_entries(run_dir) if u.get("name") != name]
    entries.append({"name": name, "role": role, "token_sha256": hash_token(token), "areas": sorted(set(areas))})
    _write_entries(run_dir, entries)
    return token


def remove_user(run_dir: Path, name: str) -> None:
    entries = _read_entries(run_dir)
    kept = [u for u in entries if u.get("name") != name]
    if len(kept) == len(entries):
        raise SettingsError(f"file {users_path(run_dir)}: no user of that name")
    _write_entries(run_dir, kept)


def rotate_token(run_dir: Path, name: str) -> str:
    """A new token for an existing user; the old one stops working on the next request."""
    entries = _read_entries(run_dir)
    for u in entries:
        if u.get("name") == name:
            token = new_token()
            u["token_sha256"] = hash_token(token)
            _write_entries(run_dir, entries)
            return token
    raise SettingsError(f"file {users_path(run_dir)}: no user of that name")


def list_users(run_dir: Path) -> list[dict]:
    """Name, role and areas of each user: never a token or a hash."""
    return [{"name": u["name"], "role": u["role"], "areas": list(u.get("areas") or [])} for u in _read_entries(run_dir)]
