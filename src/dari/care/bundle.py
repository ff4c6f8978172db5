"""Offline bundle: a deployed model with its spec, card and deployment record, signed, for clinics without a network.

The bundle is a zip holding `model.onnx`, `features.json`, `model_card.json`, `deployment.json`, `run_bundle.py`
(the standalone runner, `dari.care.bundle_runner`), `publisher.pub` (the publisher's Ed25519 public key),
`MANIFEST.json` (format, SHA-256 of each of those files, the card thresholds) and `MANIFEST.sig` (Ed25519 signature
of the manifest's bytes). Export checks the files agree with each other (card, spec and deployment pin the same
model) before signing. Verification and scoring live in the runner alone, which needs only numpy, onnxruntime and
cryptography, so a device runs `python run_bundle.py score …` with no dari, hub, database or network; dari's own
`dari cds bundle score` imports the same runner. A device trusts the key it is given (a PEM file, or the
fingerprint of the key the bundle carries), never the bundle's key alone. See docs/offline-bundle.md.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dari.atomic import atomic_path
from dari.care import bundle_runner as runner
from dari.care.settings import RiskThresholds
from dari.errors import InputError
from dari.models import FeatureSpec, OnnxModel, parse_card, parse_spec

FILES = (runner.MODEL, runner.SPEC, runner.CARD, runner.DEPLOYMENT)  # what `dari deploy` writes
MANIFEST, SIGNATURE = runner.MANIFEST, runner.SIGNATURE
MAX_ENTRY_BYTES = runner.MAX_ENTRY_BYTES


class BundleError(InputError):
    """A bundle that cannot be trusted: bad signature, changed file, unexpected entry."""


def runner_source() -> bytes:
    """The standalone runner's source, as every bundle carries it and `dari cds bundle runner` writes it."""
    return Path(runner.__file__).read_bytes()


def create_signing_key(private_path: Path, public_path: Path) -> str:
    """A new Ed25519 key pair (private key mode 0600, never overwritten); returns the public key's fingerprint."""
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
    return runner.fingerprint(key.public_key())


def _private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise InputError(f"cannot read the signing key: {exc}", file=str(path)) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError("the signing key must be an Ed25519 private key (PEM)", file=str(path))
    return key


def publisher_fingerprint(signing_key: Path) -> str:
    """The fingerprint of the public half of a signing key: what devices are told to trust."""
    return runner.fingerprint(_private_key(signing_key).public_key())


def _check_consistent(contents: dict[str, bytes], folder: Path) -> None:
    """The card, spec and deployment record pin this very model, so a device never meets a mismatch."""
    spec = parse_spec(contents[runner.SPEC].decode("utf-8"), source=str(folder / runner.SPEC))
    card = parse_card(contents[runner.CARD], source=str(folder / runner.CARD))
    model_sha = hashlib.sha256(contents[runner.MODEL]).hexdigest()
    if card.model_sha256 != model_sha:
        raise InputError("the model card pins another model.onnx", file=str(folder / runner.CARD))
    if card.feature_spec_sha256 != hashlib.sha256(contents[runner.SPEC]).hexdigest():
        raise InputError("the feature spec's SHA-256 differs from the model card's", file=str(folder / runner.SPEC))
    if (spec.name, spec.version) != (card.name, card.version):
        raise InputError(f"spec {spec.name} {spec.version} and card {card.name} {card.version} do not match")
    try:
        record = json.loads(contents[runner.DEPLOYMENT])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"not valid JSON: {exc}", file=str(folder / runner.DEPLOYMENT)) from None
    if not isinstance(record, dict) or record.get("model_sha256") != model_sha:
        raise InputError("model_sha256 is not that of model.onnx", file=str(folder / runner.DEPLOYMENT))


def export_bundle(
    deployment_dir: Path, signing_key: Path, out: Path, *, thresholds: RiskThresholds | None = None
) -> Path:
    """Sign a deployment folder (written by `dari deploy`) into a bundle file, atomically, and verify it back."""
    missing = [name for name in FILES if not (deployment_dir / name).is_file()]
    if missing:
        raise InputError(f"not a deployment folder: {', '.join(missing)} missing", file=str(deployment_dir))
    contents = {name: (deployment_dir / name).read_bytes() for name in FILES}
    _check_consistent(contents, deployment_dir)
    key = _private_key(signing_key)
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    files = {**contents, runner.RUNNER: runner_source(), runner.PUBLIC_KEY: public_pem}
    limits = thresholds or RiskThresholds()
    signed_at = datetime.now(UTC).replace(microsecond=0).isoformat()
    manifest = runner.make_manifest(files, warning=limits.warning, critical=limits.critical, signed_at=signed_at)
    with atomic_path(out) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name in runner.SIGNED_FILES:
                zf.writestr(name, files[name])
            zf.writestr(MANIFEST, manifest)
            zf.writestr(SIGNATURE, key.sign(manifest))
        verify_bundle(tmp, public_pem=public_pem)  # what a device will do; a failure leaves no file behind
    return out


def verify_bundle(
    bundle: Path, public_key: Path | None = None, *, public_pem: bytes | None = None, fingerprint: str | None = None
) -> dict[str, bytes]:
    """The bundle's files after the publisher key, signature and every hash check out; BundleError otherwise."""
    return verified_bundle(bundle, public_key, public_pem=public_pem, fingerprint=fingerprint).files


def verified_bundle(
    bundle: Path, public_key: Path | None = None, *, public_pem: bytes | None = None, fingerprint: str | None = None
) -> runner.VerifiedBundle:
    """The runner's verification with dari's errors: one key source of the three (file, PEM bytes, fingerprint)."""
    if public_key is not None:
        try:
            public_pem = public_key.read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read the public key: {exc.strerror}", file=str(public_key)) from None
    try:
        return runner.verify(bundle, public_key_pem=public_pem, trusted_fingerprint=fingerprint)
    except runner.BundleRefusedError as exc:
        raise BundleError(str(exc)) from None
    except runner.RunnerError as exc:
        raise InputError(str(exc)) from None


def load_bundle(bundle: Path, public_key: Path) -> tuple[OnnxModel, FeatureSpec, dict[str, object]]:
    """Verify, then load with dari's full checks (spec schema, ONNX checker): (OnnxModel, FeatureSpec, deployment)."""
    files = verify_bundle(bundle, public_key)
    spec = parse_spec(files[runner.SPEC].decode("utf-8"), source=f"{bundle}:{runner.SPEC}")
    deployment: dict[str, object] = json.loads(files[runner.DEPLOYMENT])
    with tempfile.TemporaryDirectory(prefix="dari-bundle-") as folder:
        path = Path(folder) / runner.MODEL
        path.write_bytes(files[runner.MODEL])  # the verified bytes; ONNX Runtime reads them into memory at load
        model = OnnxModel.load(path, spec=spec, expected_sha256=str(deployment["model_sha256"]))
    return model, spec, deployment
