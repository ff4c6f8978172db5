"""Pod bundles: validation at the boundary and the canonical hash the hub records at submission."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest
from podbox_helpers import write_bundle

from dari.errors import InputError
from dari.pods.bundle import bundle_sha256, load_bundle
from dari.pods.environment import PodEnvironmentError, check_needs, current_environment


def _zip(folder: Path, target: Path, extra: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return target


def test_bundle_hash_is_canonical_over_paths_and_contents(tmp_path: Path) -> None:
    # Prepare
    bundle = write_bundle(tmp_path / "b", "print('hi')\n")
    (bundle / "lib").mkdir()
    (bundle / "lib" / "util.py").write_text("X = 1\n")
    files = {p.relative_to(bundle).as_posix(): p.read_bytes() for p in bundle.rglob("*") if p.is_file()}
    reference = hashlib.sha256()
    for rel in sorted(files):  # the documented definition, written out
        reference.update(f"{rel}\0{len(files[rel])}\0".encode() + files[rel])
    # Execute
    from_dir, from_zip = bundle_sha256(bundle), bundle_sha256(_zip(bundle, tmp_path / "b.zip"))
    (bundle / "lib" / "util.py").write_text("X = 2\n")
    # Assert
    assert from_dir == from_zip == reference.hexdigest() == load_bundle(tmp_path / "b.zip").sha256
    assert bundle_sha256(bundle) != from_dir


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (None, "no pod.toml"),
        ('[pod]\nname = "x"\nentry = "run.sh"\n[needs]\ntables = ["person"]\n', "pod.entry"),
        ('[pod]\nname = "x"\nentry = "main.py"\n[needs]\ntables = ["note"]\n', "needs.tables"),
        ('[pod]\nname = "x"\nentry = "main.py"\n', "needs"),
        ("[pod\n", "not valid TOML"),
    ],
)
def test_bundle_refuses_bad_manifest_naming_the_field(tmp_path: Path, manifest: str | None, message: str) -> None:
    # Prepare
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "main.py").write_text("pass\n")
    if manifest is not None:
        (folder / "pod.toml").write_text(manifest)
    # Execute / Assert
    with pytest.raises(InputError, match=message) as caught:
        load_bundle(folder)
    assert str(folder) in str(caught.value)


def test_bundle_refuses_zip_slip_symlink_and_missing_entry(tmp_path: Path) -> None:
    # Prepare
    bundle = write_bundle(tmp_path / "b", "pass\n")
    slip = _zip(bundle, tmp_path / "slip.zip", {"../../etc/cron.d/x": b"owned"})
    linked = write_bundle(tmp_path / "l", "pass\n")
    (linked / "key").symlink_to("/etc/hostname")
    missing = write_bundle(tmp_path / "m", "pass\n")
    (missing / "main.py").unlink()
    # Execute / Assert
    with pytest.raises(InputError, match="leaves the bundle"):
        load_bundle(slip)
    with pytest.raises(InputError, match="symbolic link"):
        load_bundle(linked)
    with pytest.raises(InputError, match=r"entry point main\.py"):
        load_bundle(missing)


def test_environment_is_fixed_and_refuses_r_and_missing_packages(tmp_path: Path) -> None:
    # Prepare
    env = current_environment()
    r_bundle = write_bundle(tmp_path / "r", "print(1)\n", entry="analysis.R")
    wants = write_bundle(tmp_path / "w", "pass\n")
    (wants / "pod.toml").write_text(
        '[pod]\nname = "w"\nentry = "main.py"\n[needs]\ntables = ["person"]\npackages = ["numpy", "torch"]\n'
    )
    # Execute / Assert
    assert env.packages["duckdb"] and env.packages["numpy"] and len(env.sha256) == 64
    assert current_environment().sha256 == env.sha256
    if env.r is None:  # Debian's r-base is not installed on these machines
        with pytest.raises(PodEnvironmentError, match="R bundles need R"):
            check_needs(load_bundle(r_bundle), env)
    with pytest.raises(PodEnvironmentError, match="torch"):
        check_needs(load_bundle(wants), env)
