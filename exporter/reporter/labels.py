"""The words of the posted text, English and Korean: section headings, the deterministic summary's lines, and why
the deterministic summary was posted (the reasons of ``aws_ops_reporter_fallbacks_total``)."""

from __future__ import annotations

from collections.abc import Mapping

LABELS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "title": "AWS cost summary for {day}",
        "deterministic": "_Deterministic summary (no AI): {reason}._",
        "checked": "_AI summary; every statement checked against the facts{dropped}._",
        "dropped": ", {n} dropped that did not match them",
        "section_failures": "Failing or stale data",
        "section_spikes": "Spikes against the {n}-day baseline",
        "section_budgets": "Budgets (projected month end)",
        "section_health": "AWS Health",
        "section_totals": "Totals",
        "section_movers": "Movers",
        "section_other": "Also",
        "no_data": "No cost data stored for {day} yet.",
        "fleet": "Fleet: {day_usd} on {day} · month to date {mtd} ({days} of {days_total} days with data) · "
                 "last month {last}",
        "estimated": "{day} is still an estimate: Cost Explorer may restate it.",
        "projects": "By project",
        "top_services": "Top services",
        "record_types_split": "{period} {total} ({metric}), all record types: {parts}",
        "record_types_none": "Amounts are {metric}, every record type included (usage, credits, refunds, tax, fees); "
                             "no split by record type collected",
        "record_types_last_month": "Last month", "record_types_month_to_date": "Month to date",
        "record_type_usage": "usage", "record_type_credit": "credits", "record_type_refund": "refunds",
        "record_type_tax": "tax", "record_type_support": "support fees",
        "wow": "Week over week ({day} against the same weekday, {previous})",
        "mom": "Month over month (month to date against the same days of last month, {first} to {last})",
        "spike": "{who}: {usd} on {day} vs a mean of {mean} ({times}×)",
        "new_spike": "{who}: {usd} on {day}, new (no cost in the baseline)",
        "driver": "  driven by {usage}: {usd} vs a mean of {mean} ({change})",
        "context_health": "  AWS Health, open: {service} {code} {region} since {start}",
        "context_cloudwatch": "  CloudWatch: {namespace} {metric} {stat}{dims} mean {mean} on {day}, {baseline} over "
                              "the baseline ({change}) in {region}",
        "anomaly": "Cost Anomaly Detection, open: {who} {id}, impact {usd} ({period})",
        "budget": "{kind} {who}: {projected} of {budget} ({pct}%){over}",
        "budget_no_data": "{kind} {who}: no data (cost never collected) · budget {budget}",
        "budget_too_early": "{kind} {who}: {mtd} month to date of {budget} · too early to project ({days} of {min} "
                            "days)",
        "budget_spent_over": "{kind} {who}: {mtd} month to date of {budget} ({pct}%), already over budget (too early "
                             "to project: {days} of {min} days)",
        "over": " — over budget",
        "forecast_over": "{kind} {who} forecast to end {month_name} at {forecast}, {pct}% of its {budget} budget "
                         "(AWS Cost Explorer forecast){over}",
        "forecast_folded": "AWS Cost Explorer forecast for the end of {month_name}: {items}",
        "forecast_item": "{who} {forecast} ({pct}% of {budget})", "forecast_item_no_budget": "{who} {forecast}",
        "health": "{open} open, {upcoming} upcoming",
        "health_event": "{status} {who} {service} {code} {region} since {start}",
        "health_event_upcoming": "{status} {who} {service} {code} {region} starts {start}",
        "open": "open:", "upcoming": "upcoming:",
        "freshness": "Data: last pull {pull} ({age} h ago)",
        "never": "never",
        "failing": "Collector {collector} failing for {who}; last success {last}",
        "exporter_failing": "Exporter {who}: last pull failed ({error}, {count} since the last success); "
                            "last successful pull {last}",
        "exporter_stale": "Exporter {who}: no pull for a while; last successful pull {last}",
        "ago": "{when} ({age} h ago)",
        "expected_no_business_support": "AWS Health is not available for {who} (no Business support plan): "
                                        "expected, not a failure",
        "sparklines": "Last {n} days",
        "n/a": "n/a",
        "project": "project",
        "account": "account",
        "organization": "organization",
    },
    "ko": {
        "title": "{day} AWS 비용 요약",
        "deterministic": "_AI 없이 생성된 정형 요약: {reason}._",
        "checked": "_AI 요약: 모든 문장을 사실과 대조함{dropped}._",
        "dropped": ", 사실과 맞지 않는 {n}개 문장 제외",
        "section_failures": "실패하거나 오래된 데이터",
        "section_spikes": "{n}일 기준선 대비 급증",
        "section_budgets": "예산 (월말 예상)",
        "section_health": "AWS Health",
        "section_totals": "합계",
        "section_movers": "변동",
        "section_other": "기타",
        "no_data": "{day}의 비용 데이터가 아직 없습니다.",
        "fleet": "전체: {day} {day_usd} · 이번 달 누계 {mtd} ({days_total}일 중 {days}일 데이터) · 지난달 {last}",
        "estimated": "{day} 비용은 아직 추정치입니다: Cost Explorer가 수정할 수 있습니다.",
        "projects": "프로젝트별",
        "top_services": "상위 서비스",
        "record_types_split": "{period} {total} ({metric}), 모든 요금 유형 합계: {parts}",
        "record_types_none": "금액은 {metric} 기준이며 모든 요금 유형(사용량, 크레딧, 환불, 세금, 수수료)을 포함합니다; "
                             "요금 유형별 내역은 수집되지 않음",
        "record_types_last_month": "지난달", "record_types_month_to_date": "이번 달 누계",
        "record_type_usage": "사용량", "record_type_credit": "크레딧", "record_type_refund": "환불",
        "record_type_tax": "세금", "record_type_support": "지원 요금",
        "wow": "전주 대비 ({day}, 같은 요일 {previous} 대비)",
        "mom": "전월 대비 (이번 달 누계 vs 지난달 같은 기간 {first} ~ {last})",
        "spike": "{who}: {day} {usd} (평균 {mean}의 {times}배)",
        "new_spike": "{who}: {day} {usd} (신규: 기준선 기간에 비용 없음)",
        "driver": "  원인 {usage}: {usd} (평균 {mean}, {change})",
        "context_health": "  AWS Health 진행 중: {service} {code} {region} 시작 {start}",
        "context_cloudwatch": "  CloudWatch: {namespace} {metric} {stat}{dims} {day} 평균 {mean}, 기준선 평균 {baseline} "
                              "대비 {change} ({region})",
        "anomaly": "Cost Anomaly Detection 진행 중: {who} {id}, 영향 {usd} ({period})",
        "budget": "{kind} {who}: 예상 {projected} / 예산 {budget} ({pct}%){over}",
        "budget_no_data": "{kind} {who}: 데이터 없음 (비용이 수집된 적 없음) · 예산 {budget}",
        "budget_too_early": "{kind} {who}: 이번 달 누계 {mtd} / 예산 {budget} · 아직 월말 예상 불가 ({min}일 중 {days}일 경과)",
        "budget_spent_over": "{kind} {who}: 이번 달 누계 {mtd} / 예산 {budget} ({pct}%) — 이미 예산 초과 (아직 월말 예상 불가: "
                             "{min}일 중 {days}일 경과)",
        "over": " — 예산 초과",
        "forecast_over": "{kind} {who}: {month} 월말 예측 {forecast}, 예산 {budget}의 {pct}% (AWS Cost Explorer 예측){over}",
        "forecast_folded": "AWS Cost Explorer {month} 월말 예측: {items}",
        "forecast_item": "{who} {forecast} (예산 {budget}의 {pct}%)", "forecast_item_no_budget": "{who} {forecast}",
        "health": "진행 중 {open}건, 예정 {upcoming}건",
        "health_event": "{status} {who} {service} {code} {region} 시작 {start}",
        "health_event_upcoming": "{status} {who} {service} {code} {region} 시작 예정 {start}",
        "open": "진행 중:", "upcoming": "예정:",
        "freshness": "데이터: 마지막 수집 {pull} ({age}시간 전)",
        "never": "없음",
        "failing": "수집기 {collector} 실패: {who}; 마지막 성공 {last}",
        "exporter_failing": "익스포터 {who}: 마지막 수집 실패 ({error}, 마지막 성공 이후 {count}회); "
                            "마지막 성공 수집 {last}",
        "exporter_stale": "익스포터 {who}: 한동안 수집 없음; 마지막 성공 수집 {last}",
        "ago": "{when} ({age}시간 전)",
        "expected_no_business_support": "{who}: AWS Health 사용 불가 (Business 지원 플랜 없음): 예상된 상태이며 "
                                        "실패가 아님",
        "sparklines": "최근 {n}일",
        "n/a": "없음",
        "project": "프로젝트",
        "account": "계정",
        "organization": "조직",
    },
}

REASONS: Mapping[str, Mapping[str, str]] = {
    "en": {"llm_not_configured": "no LLM configured", "llm_failed": "the AI gateway gave no answer ({detail})",
           "unparseable": "the AI answer was not the JSON claims asked for",
           "no_claims": "the AI answer held no statement",
           "claims_rejected": "too many AI statements did not match the facts",
           "actionable_missing": "the AI statements left out something to act on",
           "guard_rejected": "the AI text failed the fact check"},
    "ko": {"llm_not_configured": "LLM이 설정되지 않음", "llm_failed": "AI 게이트웨이 응답 없음 ({detail})",
           "unparseable": "AI 응답이 요청한 JSON 형식이 아님",
           "no_claims": "AI 응답에 문장이 없음",
           "claims_rejected": "사실과 맞지 않는 AI 문장이 너무 많음",
           "actionable_missing": "AI 요약에 조치가 필요한 항목이 빠짐",
           "guard_rejected": "AI 요약이 사실 검증을 통과하지 못함"},
}
FALLBACK_REASONS = tuple(REASONS["en"])


def labels(language: str) -> Mapping[str, str]:
    return LABELS.get(language, LABELS["en"])


def reason_text(key: str, language: str, detail: str = "") -> str:
    """Why the deterministic text is posted. Never quotes the model's text (it may hold the invented figure)."""
    return REASONS.get(language, REASONS["en"])[key].format(detail=detail)
