"""The keys partout-nats generates on first start and keeps in its state dir (mode 0600).

    <state>/keys/
      account-sys.nk, account-partout.nk, account-auth.nk   account nkeys (kept for operator mode)
      callout-issuer.nk    account nkey that signs authorization responses and user JWTs
      callout-service.nk   user nkey of the callout responder (the one static user, in AUTH)
      master.nk            the master's identity
      operator.nk          an operator identity (CLI against the master)
      cluster-route.secret password of cluster routes

Every file is an nkey seed (or a random secret) written with partout.state.write_secret and read
back with read_secret, which refuses a file that group or others can read.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path

import nkeys

from partout.errors import StateError
from partout.nats.jwt import create_key
from partout.state import ensure_state_dir, read_secret, write_secret

USER = nkeys.PREFIX_BYTE_USER
ACCOUNT = nkeys.PREFIX_BYTE_ACCOUNT

# file name -> nkey role; the order is the order of creation
KEY_FILES: dict[str, int] = {
    "account-sys.nk": ACCOUNT,
    "account-partout.nk": ACCOUNT,
    "account-auth.nk": ACCOUNT,
    "callout-issuer.nk": ACCOUNT,
    "callout-service.nk": USER,
    "master.nk": USER,
    "operator.nk": USER,
}
ROUTE_SECRET = "cluster-route.secret"
ROLE_NAMES = {USER: "a user", ACCOUNT: "an account"}


@dataclass(frozen=True)
class KeyPair:
    """One nkey: where its seed lives and its public key (the seed stays in the file)."""

    path: Path
    public: str

    def seed(self) -> bytes:
        """Read the seed again from its file (checked 0600), for signing."""
        return load_seed(self.path, USER if self.public.startswith("U") else ACCOUNT)

    def signer(self) -> nkeys.KeyPair:
        return nkeys.from_seed(bytearray(self.seed()))


@dataclass(frozen=True)
class Keys:
    """All of partout-nats' keys in one state dir."""

    directory: Path
    sys_account: KeyPair
    partout_account: KeyPair
    auth_account: KeyPair
    callout_issuer: KeyPair
    callout_service: KeyPair
    master: KeyPair
    operator: KeyPair
    route_password: str


def load_seed(path: Path, role: int) -> bytes:
    """Read and check one seed file: mode 0600, a valid nkey seed of the expected role."""
    seed = read_secret(path).strip()
    try:
        prefix, _ = nkeys.decode_seed(bytearray(seed))
    except Exception as exc:  # nkeys raises assorted errors (binascii, its own) for garbage
        raise StateError(
            f"key file {path} is not a valid nkey seed ({type(exc).__name__}); "
            f"restore it from your backup, or delete it to generate a new key (clients must then be re-issued)"
        ) from exc
    if prefix != role:
        raise StateError(f"key file {path} holds {ROLE_NAMES.get(prefix, 'another kind of')} nkey; expected {ROLE_NAMES[role]} nkey")
    return seed


def load_or_create(state_dir: Path) -> Keys:
    """Load the keys from `state_dir`/keys, creating the missing ones; refuse unsafe or corrupt files."""
    directory = ensure_state_dir(ensure_state_dir(state_dir) / "keys")
    pairs: dict[str, KeyPair] = {}
    for name, role in KEY_FILES.items():
        path = directory / name
        if not path.exists():
            write_secret(path, bytes(create_key(role).seed) + b"\n")
        seed = load_seed(path, role)
        public = nkeys.from_seed(bytearray(seed)).public_key.decode("ascii")
        pairs[name] = KeyPair(path=path, public=public)
    route = directory / ROUTE_SECRET
    if not route.exists():
        write_secret(route, base64.urlsafe_b64encode(os.urandom(24)).rstrip(b"=") + b"\n")
    password = read_secret(route).decode("ascii", "replace").strip()
    if len(password) < 16 or not password.replace("-", "").replace("_", "").isalnum():
        raise StateError(f"secret file {route} is corrupt; delete it to generate a new cluster password")
    return Keys(
        directory=directory,
        sys_account=pairs["account-sys.nk"],
        partout_account=pairs["account-partout.nk"],
        auth_account=pairs["account-auth.nk"],
        callout_issuer=pairs["callout-issuer.nk"],
        callout_service=pairs["callout-service.nk"],
        master=pairs["master.nk"],
        operator=pairs["operator.nk"],
        route_password=password,
    )
