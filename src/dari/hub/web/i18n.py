"""The portal's words in Korean (default) and English; templates look every label up here."""

from __future__ import annotations

LANGUAGES = ("ko", "en")

MESSAGES: dict[str, tuple[str, str]] = {
    "app": ("다리 허브", "dari hub"),
    "tagline": ("의료 AI를 병원 데이터에서 진료 현장까지", "Medical AI from hospital data to care"),
    "login": ("로그인", "Log in"),
    "logout": ("로그아웃", "Log out"),
    "username": ("사용자 이름", "User name"),
    "password": ("비밀번호", "Password"),
    "login_failed": ("사용자 이름 또는 비밀번호가 틀렸습니다.", "Wrong user name or password."),
    "session_expired": ("세션이 만료되었습니다. 다시 로그인하세요.", "Your session expired. Please log in again."),
    "catalog": ("데이터 카탈로그", "Data catalog"),
    "search": ("검색", "Search"),
    "search_placeholder": ("예: 당뇨, CKD, 고혈압", "e.g. diabetes, CKD, 고혈압"),
    "no_results": ("검색 결과가 없습니다.", "No results."),
    "datasets": ("데이터셋", "Datasets"),
    "concepts": ("임상 개념", "Clinical concepts"),
    "publisher": ("제공 기관", "Publisher"),
    "persons": ("대상자 수", "Persons"),
    "records": ("레코드 수", "Records"),
    "coverage": ("수집 기간", "Temporal coverage"),
    "quality": ("데이터 품질 점수", "Data-quality score"),
    "coding": ("코드 체계", "Coding systems"),
    "age_sex": ("연령대·성별 분포", "Persons by age band and sex"),
    "top_concepts": ("주요 항목", "Most frequent concepts"),
    "suppressed_note": (
        "10 미만은 '<10'으로 표시하고 나머지는 5 단위로 반올림했습니다.",
        "Counts under 10 are shown as '<10'; the rest are rounded to 5.",
    ),
    "apply": ("연구 신청", "Apply"),
    "new_application": ("연구 신청서", "Study application"),
    "title": ("제목", "Title"),
    "purpose": ("연구 목적", "Purpose"),
    "irb_number": ("IRB 승인 번호", "IRB approval number"),
    "requested_datasets": ("요청 데이터셋", "Requested datasets"),
    "variables": ("요청 변수 (줄마다 하나)", "Requested variables (one per line)"),
    "analysis_types": ("분석 유형", "Analysis types"),
    "period": ("사용 기간", "Period"),
    "dua": (
        "데이터 이용 계약(DUA)에 동의합니다: 재식별 시도 금지, 승인된 분석만 수행, 결과 공개 전 검토.",
        "I accept the data-use agreement: no re-identification, approved analyses only, results reviewed "
        "before release.",
    ),
    "submit": ("제출", "Submit"),
    "my_applications": ("내 신청", "My applications"),
    "my_grants": ("내 이용 권한", "My grants"),
    "review_queue": ("심의 대기", "DRB review queue"),
    "decision": ("결정", "Decision"),
    "comment": ("의견", "Comment"),
    "status": ("상태", "Status"),
    "under_review": ("심의 중", "Under review"),
    "approved": ("승인", "Approved"),
    "rejected": ("반려", "Rejected"),
    "pending": ("대기", "Pending"),
    "grant": ("이용 권한", "Access grant"),
    "valid_until": ("만료", "Valid until"),
    "revoked": ("철회됨", "Revoked"),
    "active": ("유효", "Active"),
    "expired": ("만료됨", "Expired"),
    "revoke": ("철회", "Revoke"),
    "reason": ("사유", "Reason"),
    "audit": ("감사 기록", "Audit log"),
    "audit_ok": ("해시 체인이 온전합니다.", "The hash chain is intact."),
    "audit_broken": ("감사 기록이 변조되었습니다", "The audit log was tampered with"),
    "conditions": ("승인 조건", "Conditions"),
    "sites": ("기관별 심의", "Site decisions"),
    "submitted": ("제출됨", "Submitted"),
    "forbidden": ("이 작업을 할 권한이 없습니다.", "You are not allowed to do this."),
    "not_found": ("찾을 수 없습니다.", "Not found."),
    "bad_request": ("입력을 확인하세요.", "Please check your input."),
    "language": ("English", "한국어"),
}


def translate(key: str, lang: str) -> str:
    """The label in the language (Korean first); an unknown key shows itself so it is noticed."""
    pair = MESSAGES.get(key)
    if pair is None:
        return key
    return pair[1] if lang == "en" else pair[0]
