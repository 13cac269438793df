"""A figure is the value of the co-cited fact its words name, and a cause is one the facts give (claimbind).

The spike day (2026-11-15): `data-prod` / `Amazon SageMaker` spiked to $321.92 (+$281.55), driven by
`USE1-ml.p3.2xlarge-hours` at $290.10 (+$265.10); the week over week change is +697.4%, the month over month
one +46.5%; the fleet spent $379.27 that day and $1,977.60 month to date.
"""

from __future__ import annotations

import pytest

from exporter.reporter import claims
from tests.test_reporter_forecast import facts_of

SPIKE = "spike:data-prod:Amazon SageMaker"
DRIVER = "driver:data-prod:Amazon SageMaker:USE1-ml.p3.2xlarge-hours"
WOW, MOM = "mover:wow:data-prod:Amazon SageMaker", "mover:mom:data-prod:Amazon SageMaker"
TOTALS = ["total:yesterday", "total:month_to_date"]


@pytest.fixture(scope="module")
def spike_day():
    return facts_of("spike")


@pytest.mark.parametrize(("ids", "text"), [
    ([SPIKE, DRIVER], "`data-prod` / `Amazon SageMaker` spiked to $321.92 on 2026-11-15, driven by "
                      "`USE1-ml.p3.2xlarge-hours` at $290.10."),
    ([SPIKE, DRIVER], "`data-prod` / `Amazon SageMaker` rose $281.55 on 2026-11-15 because of "
                      "`USE1-ml.p3.2xlarge-hours` (+$265.10)."),
    ([SPIKE, DRIVER], "`data-prod` `Amazon SageMaker` 비용이 2026-11-15에 $321.92로 급증했고, "
                      "`USE1-ml.p3.2xlarge-hours`로 인해 $265.10 증가했습니다."),
    ([WOW, MOM], "Week over week, `data-prod` / `Amazon SageMaker` rose $281.55 (+697.4%); month over month "
                 "+$281.55 (+46.5%)."),
    (TOTALS, "The fleet spent $379.27 on 2026-11-15 and $1,977.60 in the month so far."),
    (TOTALS, "The fleet spent $379.27 on 2026-11-15 and $1,977.60 so far this month."),
    ([SPIKE], "`data-prod` / `Amazon SageMaker` spiked to $321.92; the facts do not say it was the cause of "
              "anything else."),
])
def test_a_faithful_claim_over_co_cited_facts_is_kept(spike_day, ids, text):
    assert claims.check(claims.Claim(ids, text), spike_day) is None


@pytest.mark.parametrize(("ids", "text"), [
    # the spike's amount given to its driver, and the driver's to the spike
    ([SPIKE, DRIVER], "`data-prod` / `Amazon SageMaker` spiked to $290.10 on 2026-11-15, driven by "
                      "`USE1-ml.p3.2xlarge-hours` at $321.92."),
    ([SPIKE, DRIVER], "`data-prod` / `Amazon SageMaker` rose $265.10 on 2026-11-15, driven by "
                      "`USE1-ml.p3.2xlarge-hours` (+$281.55)."),
    ([SPIKE, DRIVER], "`data-prod` `Amazon SageMaker` 비용이 2026-11-15에 $290.10로 급증했고, 원인은 "
                      "`USE1-ml.p3.2xlarge-hours` $321.92입니다."),
    # the week over week percentage said of the month over month change
    ([WOW, MOM], "Month over month, `data-prod` / `Amazon SageMaker` rose $281.55 (+697.4%)."),
    # the day's total and the month to date swapped
    (TOTALS, "The fleet spent $1,977.60 on 2026-11-15 and $379.27 in the month so far."),
    # the driver's usage type named as the cause of the spike, but the driver fact is not cited
    ([SPIKE], "`data-prod` / `Amazon SageMaker` spiked to $321.92, driven by `USE1-ml.p3.2xlarge-hours`."),
])
def test_figures_swapped_between_co_cited_facts_or_an_uncited_cause_drop_the_claim(spike_day, ids, text):
    assert claims.check(claims.Claim(ids, text), spike_day) is not None


@pytest.mark.parametrize(("ids", "text", "cause"), [
    ([SPIKE], "`data-prod` / `Amazon SageMaker` spiked to $321.92 because of a new training job.", "because of"),
    ([SPIKE, DRIVER], "`data-prod` / `Amazon SageMaker` spiked to $321.92; someone left a notebook running.",
     "left"),
    ([SPIKE, DRIVER], "`data-prod` / `Amazon SageMaker` spiked to $321.92, due to a misconfigured autoscaling "
                      "group.", "due to"),
    ([SPIKE], "`data-prod` `Amazon SageMaker` 비용이 $321.92로 급증했습니다. 새 학습 작업으로 인해 증가했습니다.", "인"),
    ([SPIKE], "`data-prod` `Amazon SageMaker` 비용이 $321.92로 급증했습니다. 누군가 노트북을 켜 두었기 때문입니다.", "켜"),
])
def test_a_cause_no_cited_fact_gives_drops_the_claim(spike_day, ids, text, cause):
    problem = claims.check(claims.Claim(ids, text), spike_day)
    assert problem is not None and "gives a cause no cited fact gives" in problem and cause in problem



@pytest.mark.parametrize(("kind", "faithful", "cause"), [
    ("context_health", "`data-prod` / `Amazon SageMaker` spiked to $321.92 while `AWS_SAGEMAKER_OPERATIONAL_ISSUE` was "
                       "open in `us-east-1`.", ", caused by `AWS_SAGEMAKER_OPERATIONAL_ISSUE`."),
    ("context_cloudwatch", "`data-prod` / `Amazon SageMaker` spiked to $321.92; CloudWatch `AWS/SageMaker` "
                           "`GPUUtilization` averaged 91.2% on 2026-11-15 against a baseline mean of 23.5%.", "; the rise was caused by `AWS/SageMaker` `GPUUtilization`."),
    ("context_health", "`data-prod` `Amazon SageMaker` 비용이 $321.92로 급증했고 `AWS_SAGEMAKER_OPERATIONAL_ISSUE` 이슈가 "
                       "진행 중입니다.", " `AWS_SAGEMAKER_OPERATIONAL_ISSUE` 때문입니다."),
])
def test_context_beside_a_spike_is_never_its_cause(kind, faithful, cause):
    facts = facts_of("context")
    ids = [SPIKE, next(f.id for f in facts.items if f.kind == kind and f.id.startswith(f"context:{SPIKE}:"))]
    assert claims.check(claims.Claim(ids, faithful), facts) is None
    problem = claims.check(claims.Claim(ids, faithful.rstrip(".") + cause), facts)
    assert problem is not None and "gives a cause no cited fact gives" in problem
