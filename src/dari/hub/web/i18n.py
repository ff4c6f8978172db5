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
    "login_throttled": (
        "로그인 실패가 너무 많습니다. 잠시 후 다시 시도하세요.",
        "Too many failed logins. Please wait and try again.",
    ),
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
    # Monitoring of deployed models
    "monitoring": ("모델 모니터링", "Model monitoring"),
    "monitoring_intro": (
        "진료에 쓰이는 모델의 입력·점수 분포 변화, 실사용 성능과 경보 (기관이 보낸 최근 기간 기준)",
        "Drift, live performance and alerts of models used in care (latest window each site published)",
    ),
    "model": ("모델", "Model"),
    "site": ("기관", "Site"),
    "latest_window": ("최근 기간", "Latest window"),
    "window": ("기간", "Window"),
    "calls": ("호출 수", "Calls"),
    "score_psi": ("점수 PSI", "Score PSI"),
    "live_auroc": ("실사용 AUROC", "Live AUROC"),
    "oe_ratio": ("관찰/기대 사건 비", "Observed/expected"),
    "alerts": ("경보", "Alerts"),
    "no_alerts": ("경보 없음", "No alerts"),
    "no_monitoring": ("아직 모니터링 자료를 보낸 기관이 없습니다.", "No site has published monitoring yet."),
    "no_windows": ("기간 자료가 없습니다.", "No windows yet."),
    "alert_input_drift": ("입력 분포 변화", "Input drift"),
    "alert_score_drift": ("점수 분포 변화", "Score drift"),
    "alert_discrimination": ("변별력 저하", "Discrimination drop"),
    "alert_calibration": ("보정 이탈", "Calibration drift"),
    "severity_warning": ("주의", "Warning"),
    "severity_critical": ("심각", "Critical"),
    "severity": ("심각도", "Severity"),
    "kind": ("종류", "Kind"),
    "subject": ("대상", "Subject"),
    "value": ("값", "Value"),
    "threshold": ("기준", "Threshold"),
    "message": ("내용", "Message"),
    "plot_drift": ("분포 변화 (PSI)", "Drift (PSI)"),
    "plot_discrimination": ("변별력 (AUROC)", "Discrimination (AUROC)"),
    "plot_calibration": ("보정 (관찰/기대 사건 비)", "Calibration (observed/expected events)"),
    "plot_activity": ("사용량과 응답 지연", "Use and latency"),
    "validation_report": ("검증 보고서", "Validation report"),
    "last_received": ("최근 수신", "Last received"),
    "inference_audit": ("추론 감사 기록", "Inference audit"),
    "inference_audit_site_only": (
        "호출별 기록은 해당 기관의 담당자와 플랫폼 관리자만 볼 수 있습니다.",
        "Per-call records are shown to the site's own roles and platform admins only.",
    ),
    "time": ("시각 (UTC)", "Time (UTC)"),
    "http_status": ("HTTP 상태", "HTTP status"),
    "probability": ("예측 확률", "Probability"),
    "indicator": ("카드 수준", "Card indicator"),
    "latency": ("지연 (ms)", "Latency (ms)"),
    "feedback": ("피드백", "Feedback"),
    "all": ("전체", "All"),
    "previous": ("이전", "Previous"),
    "next": ("다음", "Next"),
}


def translate(key: str, lang: str) -> str:
    """The label in the language (Korean first); an unknown key shows itself so it is noticed."""
    pair = MESSAGES.get(key)
    if pair is None:
        return key
    return pair[1] if lang == "en" else pair[0]


# --- cliux (issue 15, deliver 5): labels of the codes the portal shows, error pages and form messages ---
CODE_LABELS: dict[str, tuple[str, str]] = {
    # analysis types (dari.hub.governance.applications.AnalysisType)
    "feasibility": ("실현가능성 분석", "Feasibility"),
    "characterisation": ("특성 분석", "Characterisation"),
    "model_validation": ("모델 검증", "Model validation"),
    "federated_training": ("연합 학습", "Federated training"),
    # DRB decisions (dari.hub.governance.review.Decision)
    "approve": ("승인", "Approve"),
    "approve_with_conditions": ("조건부 승인", "Approve with conditions"),
    "reject": ("반려", "Reject"),
    # roles (dari.hub.governance.roles.Role)
    "platform_admin": ("플랫폼 관리자", "Platform administrator"),
    "data_steward": ("데이터 관리자", "Site data steward"),
    "drb_member": ("데이터심의위원", "DRB member"),
    "researcher": ("연구자", "Researcher"),
    "ai_vendor": ("AI 기업", "AI vendor"),
    "clinician": ("임상의", "Clinician"),
    "deployment_approver": ("AI 도입 승인 위원", "Deployment approver"),
    # audit actions (every `action=` written to the hub's audit log)
    "access.denied": ("접근 거부", "Access denied"),
    "application.submit": ("연구 신청 제출", "Application submitted"),
    "application.approved": ("연구 신청 승인", "Application approved"),
    "application.rejected": ("연구 신청 반려", "Application rejected"),
    "cli.act": ("명령줄 작업", "Command-line action"),
    "cli.denied": ("명령줄 작업 거부", "Command-line action refused"),
    "dataset.publish": ("데이터셋 게시", "Dataset published"),
    "deployment.approve": ("도입 승인", "Deployment approved"),
    "deployment.deploy": ("모델 배포", "Model deployed"),
    "deployment.withdraw": ("도입 철회", "Deployment withdrawn"),
    "drb.review": ("심의 의견 등록", "DRB vote recorded"),
    "grant.check": ("이용 권한 확인", "Grant checked"),
    "grant.issue": ("이용 권한 발급", "Grant issued"),
    "grant.revoke": ("이용 권한 철회", "Grant revoked"),
    "job.ticket": ("작업 티켓 발급", "Job ticket issued"),
    "login": ("로그인", "Log in"),
    "logout": ("로그아웃", "Log out"),
    "model.register": ("모델 등록", "Model registered"),
    "monitoring.alert": ("모니터링 경보", "Monitoring alert"),
    "monitoring.publish": ("모니터링 자료 수신", "Monitoring published"),
    "report.submit": ("검증 보고서 제출", "Validation report submitted"),
    "site.add": ("기관 추가", "Site added"),
    "token.issue": ("API 토큰 발급", "API token issued"),
    "user.add": ("사용자 추가", "User added"),
    # audit outcomes
    "allow": ("허용", "Allowed"),
    "deny": ("거부", "Denied"),
    "critical": ("심각", "Critical"),
}
MESSAGES.update(
    {
        "actor": ("수행자", "Actor"),
        "action": ("작업", "Action"),
        "target": ("대상", "Target"),
        "outcome": ("결과", "Outcome"),
        "conflict": ("이미 처리된 요청입니다.", "This was done already."),
        "too_large": ("입력이 너무 큽니다.", "The input is too large."),
        "server_error": ("요청을 처리하지 못했습니다.", "The request could not be handled."),
        "error_details": ("자세한 내용", "Details"),
        "error_back": ("데이터 카탈로그로 돌아가기", "Back to the data catalog"),
        "error_login": ("로그인하기", "Log in"),
        "api_docs": ("API 문서", "API documentation"),
        "period_start": ("사용 시작일", "Start date"),
        "period_end": ("사용 종료일", "End date"),
        "field_required": ("필수 항목입니다.", "This field is required."),
        "field_date": ("날짜를 YYYY-MM-DD 형식으로 입력하세요.", "Enter a date as YYYY-MM-DD."),
        "field_too_short": ("너무 짧습니다.", "This is too short."),
        "field_too_long": ("너무 깁니다.", "This is too long."),
        "field_choose": ("하나 이상 선택하세요.", "Choose at least one."),
        "field_too_many": ("너무 많이 선택했습니다.", "Too many chosen."),
        "field_must_accept": ("동의해야 제출할 수 있습니다.", "You must accept this to submit."),
        "field_choice": ("목록에서 선택하세요.", "Choose one of the options."),
        "field_irb": (
            "IRB 승인 번호는 영문, 숫자와 - _ . / 로 3–100자입니다.",
            "An IRB approval number has 3-100 letters, digits and - _ . /",
        ),
        "field_period_order": ("종료일은 시작일보다 뒤여야 합니다.", "The end date must be after the start date."),
        "field_period_long": ("사용 기간이 너무 깁니다.", "The period is too long."),
        "field_repeated": ("같은 항목이 반복되었습니다.", "An item is repeated."),
        "field_invalid": ("입력 값을 확인하세요.", "Please check this value."),
        "form_has_errors": ("입력을 확인하세요: 표시된 항목을 고쳐 주세요.", "Please correct the marked fields."),
    }
)


def label(code: str, lang: str) -> str:
    """The person's word for a code the portal shows (analysis type, status, role, audit action …)."""
    pair = CODE_LABELS.get(code) or MESSAGES.get(code)
    if pair is None:
        return code
    return pair[1] if lang == "en" else pair[0]
