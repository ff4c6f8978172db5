"""Offline bundle: a deployed model with its spec, card and deployment record, signed, for clinics without a network.

The bundle is a zip holding `model.onnx`, `features.json`, `model_card.json`, `deployment.json`, `MANIFEST.json`
(SHA-256 of each of those files) and `MANIFEST.sig` (Ed25519 signature of the manifest's bytes). Loading verifies
the signature with the publisher's public key first, then every file's hash, and only then lets ONNX Runtime parse
the model; a bundle with any other entry, a path outside the bundle, or a file over the size limit is refused. On
the device it needs dari's model package and ONNX Runtime only: no hub, database or network.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from dari.atomic import atomic_path
from dari.errors import InputError
from dari.models import FeatureSpec, OnnxModel, parse_spec

FILES = ("model.onnx", "features.json", "model_card.json", "deployment.json")
MANIFEST, SIGNATURE = "MANIFEST.json", "MANIFEST.sig"
MAX_ENTRY_BYTES = 256 * 1024 * 1024


class BundleError(InputError):
    """A bundle that cannot be trusted: bad signature, changed file, unexpected entry."""


def create_signing_key(private_path: Path, public_path: Path) -> None:
    """A new Ed25519 key pair (private key mode 0600, never overwritten)."""
    if private_path.exists():
        raise InputError("a signing key exists here already; refusing to overwrite it", file=str(private_path))
    key = Ed25519PrivateKey.generate()
    with atomic_path(private_path) as tmp:
        tmp.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        tmp.chmod(0o600)
    with atomic_path(public_path) as tmp:
        tmp.write_bytes(
            key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )


def _private_key(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError("the signing key must be an Ed25519 private key (PEM)", file=str(path))
    return key


def _public_key(path: Path) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise InputError("the verification key must be an Ed25519 public key (PEM)", file=str(path))
    return key


def export_bundle(deployment_dir: Path, signing_key: Path, out: Path) -> Path:
    """Sign a deployment folder (written by `dari deploy`) into a bundle file, atomically."""
    missing = [name for name in FILES if not (deployment_dir / name).is_file()]
    if missing:
        raise InputError(f"not a deployment folder: {', '.join(missing)} missing", file=str(deployment_dir))
    contents = {name: (deployment_dir / name).read_bytes() for name in FILES}
    manifest = json.dumps(
        {"format": "dari-bundle/1", "files": {n: hashlib.sha256(b).hexdigest() for n, b in contents.items()}},
        indent=2,
        sort_keys=True,
    ).encode()
    signature = _private_key(signing_key).sign(manifest)
    with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in contents.items():
            zf.writestr(name, data)
        zf.writestr(MANIFEST, manifest)
        zf.writestr(SIGNATURE, signature)
    return out


def verify_bundle(bundle: Path, public_key: Path) -> dict[str, bytes]:
    """The bundle's files after the signature and every hash check out; BundleError otherwise."""
    where = str(bundle)
    try:
        zf = zipfile.ZipFile(bundle)
    except (OSError, zipfile.BadZipFile) as exc:
        raise BundleError(f"not a readable bundle: {exc}", file=where) from None
    with zf:
        names = set(zf.namelist())
        expected = {*FILES, MANIFEST, SIGNATURE}
        if names != expected:
            raise BundleError(f"unexpected entries {sorted(names ^ expected)}", file=where)
        if any(info.file_size > MAX_ENTRY_BYTES for info in zf.infolist()):
            raise BundleError("an entry is larger than the bundle limit", file=where)
        manifest, signature = zf.read(MANIFEST), zf.read(SIGNATURE)
        try:
            _public_key(public_key).verify(signature, manifest)
        except InvalidSignature:
            raise BundleError(
                "the signature does not match the manifest: not from this publisher, or altered", file=where
            ) from None
        listed = json.loads(manifest)["files"]
        files = {name: zf.read(name) for name in FILES}
    for name, data in files.items():
        if hashlib.sha256(data).hexdigest() != listed.get(name):
            raise BundleError(f"{name} was changed after signing", file=where)
    return files


def load_bundle(bundle: Path, public_key: Path) -> tuple[OnnxModel, FeatureSpec, dict[str, object]]:
    """Verify, then load the model for scoring: (OnnxModel, FeatureSpec, deployment record)."""
    import tempfile

    files = verify_bundle(bundle, public_key)
    spec = parse_spec(files["features.json"].decode("utf-8"), source=f"{bundle}:features.json")
    deployment: dict[str, object] = json.loads(files["deployment.json"])
    with tempfile.TemporaryDirectory(prefix="dari-bundle-") as folder:
        path = Path(folder) / "model.onnx"
        path.write_bytes(files["model.onnx"])  # the verified bytes; ONNX Runtime reads them into memory at load
        model = OnnxModel.load(path, spec=spec, expected_sha256=str(deployment["model_sha256"]))
    return model, spec, deployment
