"""Train dari's reference chest-radiograph nodule model on site-1's synthetic radiographs only; write it as ONNX.

The radiographs are `dari.imaging.synth`'s (the same generator the sites' PACS are filled from; CT slices left out).

    .venv/bin/python scripts/train_imaging_model.py [--train 300] [--test 150] [--out FOLDER]

(FOLDER defaults to the package data, src/dari/imaging/reference_model/data.)

No torch: the filter bank is fixed (`dari.imaging.reference_model.graph`), its responses come from ONNX Runtime,
and the per-pixel head is a scikit-learn MLP (12 hidden units) trained on pixels at nodule centres against random
pixels, then three rounds of hard negatives (each image's 20 highest-scoring pixels away from any nodule). A
Platt scaling of the image-level maximum on the training images is folded into the last layer, so the score is a
probability. The threshold is the highest-sensitivity score with at most 10 % false positives per image on
site-1's training images. The card's external figures come from site-2 and site-3 images no training step saw:
the model transfers imperfectly (other detectors, tone curves, noise and beam).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from datetime import date
from pathlib import Path

import numpy as np
import onnxruntime as ort
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score, roc_curve
from sklearn.neural_network import MLPClassifier

from dari.atomic import atomic_path
from dari.imaging.model import CARD_FILE, MODEL_FILE, SPEC_FILE
from dari.imaging.preprocess import preprocess
from dari.imaging.reference_model.graph import feature_graph, scoring_graph
from dari.imaging.site_profiles import imaging_site
from dari.imaging.spec import ImageSpec, dump_spec
from dari.imaging.synth import Patient, make_study
from dari.models.model_card import ModelCard, dump_card

SPEC = ImageSpec(
    name="dari-cxr-nodule",
    modalities=("DX", "CR"),
    body_parts=("CHEST",),
    pixel_spacing_mm=2.0,
    size=(192, 192),
    threshold=0.5,  # replaced by the trained threshold
    finding_code=("27925004", "SCT", "Nodule"),
)


def _patients(n: int) -> list[Patient]:
    """Made-up adult patients for the training images (the images are what matters, not who they are)."""
    return [Patient(f"T{i:06d}", "가상", f"TRAIN^{i}", "O", date(1960, 1, 1)) for i in range(n)]


def _images(site_id: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """`n` radiographs of the site's scanners from `dari.imaging.synth` (CT left out), preprocessed by the spec."""
    site = imaging_site(site_id)
    tensors, labels, centres, scanners = [], [], [], []
    patients, index = _patients(4 * n), 0
    while len(tensors) < n:
        ds, truth = make_study(site, patients[index], index, seed)
        index += 1
        if truth.modality == "CT":
            continue
        p = preprocess(ds, SPEC)
        tensors.append(p.tensor)
        labels.append(truth.lesion)
        scanners.append(truth.scanner)
        if truth.lesion and truth.lesion_col is not None and truth.lesion_row is not None:
            g, radius = p.geometry, float(truth.lesion_radius_mm or 0.0)
            row = (truth.lesion_row + 0.5) / g.scale[0] - 0.5 - g.offset[0]
            col = (truth.lesion_col + 0.5) / g.scale[1] - 0.5 - g.offset[1]
            centres.append((row, col, radius / SPEC.pixel_spacing_mm))
        else:
            centres.append((-1.0, -1.0, 0.0))
    return np.concatenate(tensors), np.array(labels), np.array(centres), scanners


def _responses(session: ort.InferenceSession, x: np.ndarray) -> np.ndarray:
    maps = [session.run(None, {"image": x[i : i + 16]})[0] for i in range(0, len(x), 16)]
    return np.moveaxis(np.concatenate(maps), 1, -1)  # N, H, W, K


def _train_head(r: np.ndarray, y: np.ndarray, c: np.ndarray, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    n, h, w, k = r.shape
    rr, cc = np.mgrid[:h, :w]
    pos, neg, away = [], [], []
    for i in range(n):
        far = np.ones((h, w), bool)
        if y[i]:
            r0, c0, rad = c[i]
            d2 = (rr - r0) ** 2 + (cc - c0) ** 2
            pos.append(r[i][d2 <= max(1.0, rad * 0.5) ** 2])
            far = d2 > (rad * 1.5 + 2) ** 2
        away.append(far)
        neg.append(r[i].reshape(-1, k)[rng.choice(np.flatnonzero(far.ravel()), 75, replace=False)])
    fp, fn = np.concatenate(pos), np.concatenate(neg)
    for _round in range(4):
        f = np.concatenate([fp, fn])
        mu, sd = f.mean(0), f.std(0) + 1e-6
        mlp = MLPClassifier((12,), alpha=1e-3, max_iter=200, random_state=seed)
        mlp.fit((f - mu) / sd, np.r_[np.ones(len(fp)), np.zeros(len(fn))])
        w1, b1 = mlp.coefs_[0] / sd[:, None], mlp.intercepts_[0] - (mu / sd) @ mlp.coefs_[0]
        w2, b2 = mlp.coefs_[1][:, 0], float(mlp.intercepts_[1][0])
        logit = np.maximum(r @ w1 + b1, 0) @ w2 + b2  # N, H, W
        hard = []
        for i in range(n):
            m = np.where(away[i], logit[i], -np.inf)
            hard.append(r[i].reshape(-1, k)[np.argsort(m.ravel())[-20:]])
        fn = np.concatenate([fn, *hard])
    peak = logit.reshape(n, -1).max(1)
    platt = LogisticRegression().fit(peak[:, None], y)
    a, b = float(platt.coef_[0][0]), float(platt.intercept_[0])
    return w1, b1, w2 * a, b2 * a + b


def main(argv: list[str] | None = None) -> int:
    """Train, evaluate per site, write model.onnx + spec.json + card.json atomically."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=300)
    parser.add_argument("--test", type=int, default=150)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("src/dari/imaging/reference_model/data"))
    args = parser.parse_args(argv)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    features = ort.InferenceSession(feature_graph().SerializeToString(), options, providers=["CPUExecutionProvider"])
    x, y, c, _ = _images("site-1", args.train, args.seed)
    w1, b1, w2, b2 = _train_head(_responses(features, x), y, c, args.seed)
    model = scoring_graph(w1, b1, w2, b2)
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])

    def scores(tensors: np.ndarray) -> np.ndarray:
        return np.concatenate(
            [session.run(["score"], {"image": tensors[i : i + 16]})[0][:, 0] for i in range(0, len(tensors), 16)]
        )

    train_scores = scores(x)
    fpr, _tpr, thresholds = roc_curve(y, train_scores)
    threshold = float(thresholds[np.searchsorted(fpr, 0.10, side="right") - 1])
    spec = SPEC.model_copy(update={"threshold": round(min(max(threshold, 0.0), 1.0), 4)})
    figures = {"site-1 (training)": _figures(y, train_scores, threshold)}
    for site, seed in (("site-1", args.seed + 1), ("site-2", args.seed + 1), ("site-3", args.seed + 1)):
        xt, yt, _, _ = _images(site, args.test, seed)
        label = f"{site} (held out)" if site == "site-1" else site
        figures[label] = _figures(yt, scores(xt), threshold)
    args.out.mkdir(parents=True, exist_ok=True)
    model_bytes = model.SerializeToString()
    spec_text = dump_spec(spec)
    card = _card(figures, args, hashlib.sha256(model_bytes).hexdigest(), hashlib.sha256(spec_text.encode()).hexdigest())
    with atomic_path(args.out / MODEL_FILE) as tmp:
        tmp.write_bytes(model_bytes)
    with atomic_path(args.out / SPEC_FILE) as tmp:
        tmp.write_text(spec_text, encoding="utf-8")
    with atomic_path(args.out / CARD_FILE) as tmp:
        tmp.write_text(dump_card(card), encoding="utf-8")
    print(json.dumps({"threshold": spec.threshold, "figures": figures}, indent=2))
    return 0


def _figures(y: np.ndarray, s: np.ndarray, threshold: float) -> dict[str, float]:
    flagged = s >= threshold
    return {
        "n": len(y),
        "events": int(y.sum()),
        "auroc": round(float(roc_auc_score(y, s)), 3),
        "brier": round(float(brier_score_loss(y, s)), 3),
        "observed_expected": round(float(y.sum() / max(s.sum(), 1e-9)), 3),
        "sensitivity": round(float(flagged[y == 1].mean()), 3),
        "fp_per_image": round(float(flagged[y == 0].mean()), 3),
    }


def _card(figures: dict[str, dict[str, float]], args: argparse.Namespace, model_sha: str, spec_sha: str) -> ModelCard:
    t = lambda ko, en: {"ko": ko, "en": en}  # noqa: E731
    performance = []
    for label, f in figures.items():
        site = label.split(" ")[0]
        setting = "internal_apparent" if "training" in label else "external"
        note = None
        if "held out" in label:
            note = t("1기관의 학습에 쓰지 않은 영상", "site-1 images no training step saw (same scanner)")
        elif setting == "external":
            makers = ", ".join(sorted({s.manufacturer for s in imaging_site(site).scanners if s.modality != "CT"}))
            note = t(f"다른 기관의 검출기: {makers}", f"another site's detectors: {makers}")
        performance.append(
            {
                "setting": setting,
                "site": site,
                "n": f["n"],
                "events": f["events"],
                "auroc": f["auroc"],
                "calibration_slope": None,
                "calibration_in_the_large": None,
                "observed_expected": f["observed_expected"],
                "brier": f["brier"],
                "note": note,
            }
        )
    card = {
        "name": "dari-cxr-nodule",
        "version": "0.1.0",
        "release_date": date(2026, 12, 7).isoformat(),
        "release_stage": "research",
        "developer": "dari project",
        "contact": "https://github.com/dari (issues)",
        "summary": t(
            "흉부 X선 영상에서 폐결절을 찾는 참조 모델 (합성 영상으로 학습)",
            "Reference model finding lung nodules on chest radiographs (trained on synthetic images)",
        ),
        "model_type": t(
            "고정 필터 뱅크 + 픽셀별 MLP, 활성화 지도의 최댓값",
            "fixed filter bank + per-pixel MLP; max of its activation map",
        ),
        "intended_use": t(
            "dari 영상 게이트웨이와 연합 검증의 시연과 시험",
            "demonstrating and testing dari's imaging gateway and federated validation",
        ),
        "intended_users": t(
            "dari 개발자, 병원 IT, 검증 연구자", "dari developers, hospital IT, validation researchers"
        ),
        "target_population": t("합성 흉부 PA 영상 (DX/CR)", "synthetic chest PA radiographs (DX/CR)"),
        "out_of_scope": [
            t("실제 환자 진료", "care of real patients"),
            t("CT, 측면 영상, 소아", "CT, lateral views, children"),
        ],
        "training_data": {
            "site": "site-1",
            "synthetic": True,
            "n": figures["site-1 (training)"]["n"],
            "events": figures["site-1 (training)"]["events"],
            "description": t(
                "1기관의 합성 흉부 영상 (5–15 mm 결절)",
                "site-1's synthetic chest radiographs from dari.imaging.synth (lesions of 5–15 mm)",
            ),
            "period_start": "2025-01-01",
            "period_end": "2025-12-31",
            "how_to_rebuild": (
                f"python scripts/train_imaging_model.py --train {args.train} --test {args.test} --seed {args.seed}"
            ),
        },
        "features": [
            {
                "name": "image",
                "label_ko": "흉부 X선 영상",
                "label_en": "chest radiograph",
                "code": "DICOM DX/CR, BodyPartExamined CHEST",
                "unit": None,
                "when_missing": "required",
            }
        ],
        "outputs": t(
            "결절 확률 (0–1), 활성화 지도, 최댓값 위치",
            "nodule probability (0–1), activation map, location of its peak",
        ),
        "performance": performance,
        "known_risks": [
            t(
                "영상에 새겨진 밝은 글자가 최댓값을 끌 수 있다: 연합 검증은 먼저 비식별화(글자 가림)한다",
                "bright burned-in text can draw the peak: the federated validation blanks it (de-identification) first",
            ),
            t(
                "다른 검출기로 옮기면 성능이 크게 떨어진다 (외부 AUROC 참조)",
                "performance drops sharply on other detectors (see external AUROC)",
            ),
        ],
        "fairness_considerations": [
            t(
                "합성 자료: 환자 집단 간 공정성은 평가되지 않음",
                "synthetic data: fairness across patient groups is not assessed",
            )
        ],
        "regulatory_status": t("연구용, 의료기기 아님", "research use only; not a medical device"),
        "model_file": MODEL_FILE,
        "model_sha256": model_sha,
        "feature_spec_file": SPEC_FILE,
        "feature_spec_sha256": spec_sha,
    }
    return ModelCard.model_validate(card)


if __name__ == "__main__":
    sys.exit(main())
