"""dari's reference model: logistic regression for 1-year CKD progression, trained on synthetic site-1, in ONNX.

Rebuild it (about two minutes) with

    python -m dari.models.reference --out src/dari/models/data/reference

which generates the synthetic sites, pseudonymises them into their CDMs the way `dari demo` does, extracts the
cohort with the reference spec, fits StandardScaler + LogisticRegression on site-1, exports the pipeline to ONNX
(probabilities as a plain float tensor), checks that ONNX and scikit-learn agree, and writes the model, the spec
(with the exact linear terms for explanations) and the model card. Everything follows from the seed.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from dari.atomic import atomic_path
from dari.cdm.store import open_store
from dari.models.cdm_features import CohortFrame, extract_cohort_features
from dari.models.feature_spec import FeatureSpec, LinearModel, LinearTerm, dump_spec
from dari.models.model_card import dump_card
from dari.models.onnx_model import OnnxModel
from dari.models.performance import Scores, score
from dari.models.reference_card import CardInputs, reference_card
from dari.models.reference_spec import reference_spec

MODEL_FILE = "model.onnx"
SPEC_FILE = "features.json"
CARD_FILE = "model_card.json"
DEFAULT_SEED = 1729  # not the demo's 7: the demo network must not share patients with the training data
DEFAULT_PATIENTS = 40_000
DEFAULT_EXTERNAL_PATIENTS = 20_000
BOOTSTRAPS = 200
ONNX_OPSET = {"": 17, "ai.onnx.ml": 3}  # fixed, so the same weights give the same bytes on newer converters


@dataclass(frozen=True)
class ReferencePaths:
    """Where the shipped reference model's files are."""

    model: Path
    spec: Path
    card: Path


def reference_model_paths() -> ReferencePaths:
    """The reference model, feature spec and model card shipped inside the dari package."""
    folder = Path(str(files("dari.models") / "data" / "reference"))
    return ReferencePaths(folder / MODEL_FILE, folder / SPEC_FILE, folder / CARD_FILE)


def write_seeded_key(path: Path, seed: int, site_id: str) -> None:
    """A site key derived from the seed (mode 0600), so a rebuild is identical. For synthetic data only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(f"dari reference model training key:{seed}:{site_id}".encode()).hexdigest()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(key + "\n")


def _publish(target: Path, data: bytes) -> None:
    """Write a package data file atomically, readable by all (temporary files start owner-only)."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
        tmp.chmod(0o644)


def build_site(workdir: Path, site_index: int, n_patients: int, seed: int) -> Path:
    """Generate one synthetic site and pseudonymise it into its CDM (the path `dari demo` takes)."""
    # Imported here, like scikit-learn below: only training needs them, and `reference_model_paths` must stay cheap.
    from dari.privacy.ingest import run_ingest
    from dari.synth.network import generate_site
    from dari.synth.sites import network_profiles

    profile = network_profiles(3)[site_index]
    folder = workdir / profile.site_id
    generate_site(profile, folder, n_patients, seed)
    key = workdir / "keys" / f"{profile.site_id}.key"
    write_seeded_key(key, seed, profile.site_id)
    run_ingest(folder, key)
    return folder


def cohort_of(site: Path, spec: FeatureSpec) -> tuple[CohortFrame, np.ndarray, np.ndarray]:
    """The site's cohort with its scorable input rows X and outcomes y."""
    store = open_store(site)
    try:
        frame = extract_cohort_features(store, spec)
    finally:
        store.close()
    batch = frame.inputs(spec)
    return frame, batch.x[batch.scorable], frame.y[batch.scorable]


def fit_pipeline(x: np.ndarray, y: np.ndarray) -> Any:
    """Standardisation then L2-penalised logistic regression (C = 1: mild shrinkage at a few thousand rows)."""
    # Imported here: scikit-learn is slow to import, and `reference_model_paths` must stay cheap.
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    pipe = Pipeline([("scale", StandardScaler()), ("logit", LogisticRegression(C=1.0, max_iter=1000))])
    return pipe.fit(x, y)


def linear_model_of(pipe: Any, spec: FeatureSpec) -> LinearModel:
    """The fitted pipeline as exact linear terms: logit = intercept + Σ coef·(x − mean)/scale."""
    scaler, clf = pipe.named_steps["scale"], pipe.named_steps["logit"]
    terms = tuple(
        LinearTerm(feature=name, coefficient=float(c), mean=float(m), scale=float(s))
        for name, c, m, s in zip(spec.feature_names, clf.coef_[0], scaler.mean_, scaler.scale_, strict=True)
    )
    return LinearModel(intercept=float(clf.intercept_[0]), terms=terms)


def export_onnx(pipe: Any, n_features: int) -> bytes:
    """The pipeline as ONNX: input `input` float [N, n_features], output `probabilities` float [N, 2]."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    clf = pipe.named_steps["logit"]
    onx = convert_sklearn(
        pipe,
        name="dari_ckd_progression_1y",
        initial_types=[("input", FloatTensorType([None, n_features]))],
        options={id(clf): {"zipmap": False}},
        target_opset=ONNX_OPSET,
    )
    return bytes(onx.SerializeToString())


def optimism_corrected(x: np.ndarray, y: np.ndarray, apparent: Scores, seed: int) -> Scores:
    """Harrell's bootstrap: apparent figure minus the mean optimism of models refitted on bootstrap samples."""
    rng = np.random.default_rng(seed)
    auc_opt, slope_opt = [], []
    for _ in range(BOOTSTRAPS):
        rows = rng.integers(0, y.size, y.size)
        if y[rows].all() or not y[rows].any():
            continue
        boot = fit_pipeline(x[rows], y[rows])
        b = score(boot.predict_proba(x[rows])[:, 1], y[rows])
        o = score(boot.predict_proba(x)[:, 1], y)
        if b.auroc is not None and o.auroc is not None:
            auc_opt.append(b.auroc - o.auroc)
        if b.calibration_slope is not None and o.calibration_slope is not None:
            slope_opt.append(b.calibration_slope - o.calibration_slope)
    return Scores(
        n=apparent.n,
        events=apparent.events,
        auroc=None if apparent.auroc is None else apparent.auroc - float(np.mean(auc_opt)),
        calibration_slope=None
        if apparent.calibration_slope is None
        else apparent.calibration_slope - float(np.mean(slope_opt)),
        calibration_in_the_large=None,
        observed_expected=None,
        brier=None,
    )


def subgroup_scores(frame: CohortFrame, p: np.ndarray, scorable: np.ndarray) -> dict[tuple[str, str], Scores]:
    """Scores by sex and by age band."""
    out: dict[tuple[str, str], Scores] = {}
    for attribute, labels in (("sex", frame.sex[scorable]), ("age_band", frame.age_band[scorable])):
        for group in sorted(set(labels.tolist()) - {""}):
            mask = labels == group
            out[(attribute, group)] = score(p[mask], frame.y[scorable][mask])
    return out


def train_reference(out: Path, *, seed: int, patients: int, external_patients: int, workdir: Path) -> CardInputs:
    """Build the sites, train, export, verify and write model.onnx, features.json and model_card.json to `out`."""
    base = reference_spec()
    site1 = build_site(workdir, 0, patients, seed)
    frame, x, y = cohort_of(site1, base)
    pipe = fit_pipeline(x, y)
    spec = base.model_copy(update={"linear_model": linear_model_of(pipe, base)})
    onnx_bytes = export_onnx(pipe, spec.n_features)
    out.mkdir(parents=True, exist_ok=True)
    _publish(out / MODEL_FILE, onnx_bytes)
    _publish(out / SPEC_FILE, dump_spec(spec).encode("utf-8"))
    model = OnnxModel.load(out / MODEL_FILE, spec=spec)
    p_onnx = model.predict_proba(x)
    gap = float(np.max(np.abs(p_onnx - pipe.predict_proba(x)[:, 1])))
    if gap > 1e-5:
        raise RuntimeError(f"ONNX and scikit-learn disagree by {gap:.2e}; the export is wrong")
    apparent = score(p_onnx, y)
    scorable = frame.inputs(spec).scorable
    external: dict[str, Scores] = {}
    for site_index in (1, 2) if external_patients else ():
        site = build_site(workdir, site_index, external_patients, seed)
        _frame_e, x_e, y_e = cohort_of(site, spec)
        external[site.name] = score(model.predict_proba(x_e), y_e)
    inputs = CardInputs(
        spec=spec,
        frame=frame,
        apparent=apparent,
        corrected=optimism_corrected(x, y, apparent, seed),
        subgroups=subgroup_scores(frame, p_onnx, scorable),
        external=external,
        model_sha256=model.sha256,
        spec_sha256=hashlib.sha256((out / SPEC_FILE).read_bytes()).hexdigest(),
        command=f"python -m dari.models.reference --out {out} --seed {seed} --patients {patients} "
        f"--external-patients {external_patients}",
        seed=seed,
        patients=patients,
    )
    _publish(out / CARD_FILE, dump_card(reference_card(inputs, MODEL_FILE, SPEC_FILE)).encode("utf-8"))
    return inputs


def main(
    out: Annotated[Path, typer.Option(help="Folder for model.onnx, features.json and model_card.json.")],
    seed: Annotated[int, typer.Option(help="Seed of the synthetic network.")] = DEFAULT_SEED,
    patients: Annotated[int, typer.Option(min=2000, help="Patients at site-1 (training).")] = DEFAULT_PATIENTS,
    external_patients: Annotated[
        int, typer.Option(min=0, help="Patients at site-2 and site-3 for the external check (0: skip).")
    ] = DEFAULT_EXTERNAL_PATIENTS,
) -> None:
    """Train and export dari's reference model on a synthetic network."""
    with tempfile.TemporaryDirectory(prefix="dari-reference-") as tmp:
        result = train_reference(
            out, seed=seed, patients=patients, external_patients=external_patients, workdir=Path(tmp)
        )
    typer.echo(_summary(result), err=True)


def _summary(r: CardInputs) -> str:
    def line(label: str, s: Scores) -> str:
        return (
            f"{label:<28} n={s.n:>6} events={s.events:>5} AUROC={_f(s.auroc)} slope={_f(s.calibration_slope)} "
            f"CITL={_f(s.calibration_in_the_large)} O/E={_f(s.observed_expected)}"
        )

    rows = [line("site-1 apparent", r.apparent), line("site-1 optimism-corrected", r.corrected)]
    rows += [line(f"{site} external", s) for site, s in r.external.items()]
    return "\n".join([*rows, f"model sha256 {r.model_sha256}"])


def _f(x: float | None) -> str:
    return "  n/a" if x is None else f"{x:.3f}"


if __name__ == "__main__":
    typer.run(main)
