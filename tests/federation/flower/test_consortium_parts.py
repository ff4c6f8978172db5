"""The consortium's parts without its processes: certificates and keys, pacing, which engine a job picks."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from dari.errors import InputError
from dari.federation.consortium import local
from dari.federation.consortium.certs import create_ca, create_node_key, issue_server_cert
from dari.federation.consortium.engine import SIMULATION, local_consortium, on_engine
from dari.federation.consortium.pacing import Pacer


def test_consortium_certs_chain_san_and_private_modes(tmp_path: Path) -> None:
    # Execute
    ca_cert, ca_key = create_ca(tmp_path)
    server = issue_server_cert(tmp_path, "superlink", ["127.0.0.1", "hub.example.kr"], ca_cert, ca_key)
    private, public = create_node_key(tmp_path, "site-1")
    # Assert: the server certificate is signed by the CA and names both hosts
    ca = x509.load_pem_x509_certificate(ca_cert.read_bytes())
    leaf = x509.load_pem_x509_certificate(server.cert.read_bytes())
    leaf.verify_directly_issued_by(ca)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(a) for a in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert san.get_values_for_type(x509.DNSName) == ["hub.example.kr"]
    # Assert: private keys are the owner's only; the node key is what flwr registers (NIST P-256, OpenSSH)
    for key in (ca_key, server.key, private):
        assert key.stat().st_mode & 0o777 == 0o600
    from flwr.cli.supernode.register import try_load_public_key
    from flwr.supercore.primitives.asymmetric import bytes_to_public_key

    loaded = bytes_to_public_key(try_load_public_key(public))
    assert isinstance(loaded, ec.EllipticCurvePublicKey) and loaded.curve.name == "secp256r1"
    with pytest.raises(InputError, match="CA key is already there"):
        create_ca(tmp_path)


def test_consortium_pacer_backs_off_from_work_to_idle() -> None:
    # Prepare
    pacer = Pacer(fast_s=0.001, idle_s=0.004)
    # Execute / Assert: idle at first; right after work the shortest wait, doubling per empty poll up to idle
    assert pacer.interval() == 0.004
    pacer.busy()
    seen = []
    for _ in range(4):
        seen.append(pacer.interval())
        pacer.wait()
    assert seen == [0.001, 0.002, 0.004, 0.004]


@pytest.fixture
def fake_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[local.ConsortiumState, list[Path]]]:
    """A recorded consortium whose 'processes' are this test process and a listening socket on loopback."""
    sites = [tmp_path / "site-1", tmp_path / "site-2"]
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        state = local.ConsortiumState(
            run_dir=str(tmp_path),
            address=f"127.0.0.1:{port}",
            ca_cert=str(tmp_path / "ca.crt"),
            governance="none",
            started_at="2026-12-07T00:00:00+00:00",
            sites=[
                local.SiteInfo(site_id=s.name, folder=str(s.resolve()), runtime_port=1, public_key="k.pub", node_id=i)
                for i, s in enumerate(sites)
            ],
            processes=[local.ProcessInfo(name="superlink", pid=os.getpid(), log="l")],
        )
        (tmp_path / local.STATE).write_text(state.model_dump_json(), encoding="utf-8")
        monkeypatch.setenv(local.ENV_DIR, str(tmp_path))
        monkeypatch.delenv("DARI_ENGINE", raising=False)
        yield state, sites


def test_consortium_engine_picks_consortium_only_for_its_sites_and_governance(
    fake_up: tuple[local.ConsortiumState, list[Path]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    state, sites = fake_up
    # Execute / Assert: the same sites and governance → the consortium; anything else → the simulation engine
    assert local_consortium(sites, None) == state
    assert local_consortium(sites[:1], None) is None
    assert local_consortium(sites, tmp_path / "hub.db") is None
    result, engine = on_engine(sites, None, lambda: "simulated", lambda s: f"deployed on {s.address}")
    assert result == f"deployed on {state.address}" and "local consortium" in engine
    monkeypatch.setenv("DARI_ENGINE", "simulation")
    assert on_engine(sites, None, lambda: "simulated", lambda s: "deployed") == ("simulated", SIMULATION)


def test_consortium_engine_ignores_a_dead_consortium(fake_up: tuple[local.ConsortiumState, list[Path]]) -> None:
    state, sites = fake_up
    dead = state.model_copy(update={"processes": [local.ProcessInfo(name="superlink", pid=2**22 + 1, log="l")]})
    (Path(state.run_dir) / local.STATE).write_text(dead.model_dump_json(), encoding="utf-8")
    # Execute / Assert
    assert local_consortium(sites, None) is None
