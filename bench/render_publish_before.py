"""bench/render_publish.py's workload on the API before issue 9 (commit 0775534), for the "before" figure.

    git worktree add /tmp/before 0775534 && python bench/render_publish_before.py /tmp/before 1000 20

Runs only against that checkout (the path given first); the current code has its own bench/render_publish.py.
"""
import datetime as dt, statistics, sys, time
from decimal import Decimal
sys.path.insert(0, sys.argv[1])
from exporter.aws import ApiStats
from exporter.collectors.cost import CostCollector, CostRecord, DAILY, MONTHLY
from exporter.collectors.health import HealthCollector, HealthEvent
from exporter.config import parse
from exporter.metrics import Exposition
from exporter.snapshot import AccountResult, CollectorRun, SnapshotHolder, utcnow
AS_OF = dt.date(2026, 11, 25); SERVICES = [f"Service {i:02d}" for i in range(50)]
def cost_records(seed):
    out = []
    for i, service in enumerate(SERVICES):
        amount = Decimal(f"{seed % 97 + i}.0123456789")
        for back in range(1, 16):
            day = AS_OF - dt.timedelta(days=back)
            out.append(CostRecord(service, DAILY, day, day + dt.timedelta(days=1), amount, "USD", "AmortizedCost", False))
        out.append(CostRecord(service, MONTHLY, dt.date(2026, 10, 1), dt.date(2026, 11, 1), amount * 30, "USD", "AmortizedCost", False))
        out.append(CostRecord(service, MONTHLY, dt.date(2026, 11, 1), AS_OF, amount * 24, "USD", "AmortizedCost", False))
    return tuple(out)
n = int(sys.argv[2]); repeat = int(sys.argv[3])
config = parse({"accounts": [{"id": f"{10**11 + i:012d}", "name": f"acct-{i}", "project": f"p{i % 10}", "role_arn": f"arn:aws:iam::{10**11 + i:012d}:role/r"} for i in range(n)]})
cost = CostCollector(config.collectors.cost, lambda *_: None); health = HealthCollector(config.collectors.health, lambda *_: None)
holder = SnapshotHolder(); exposition = Exposition(config.accounts, [cost, health], ApiStats(), process_metrics=False)
holder.subscribe(exposition.on_snapshot)
now = utcnow()
costs = [AccountResult("cost", a.id, cost_records(i), True, now, now, 0.0, None, AS_OF) for i, a in enumerate(config.accounts)]
t0 = time.perf_counter(); holder.publish(CollectorRun("cost", now, 1.0, n, 0), costs); cp = time.perf_counter() - t0
times = []
for r in range(repeat):
    t = utcnow()
    ev = HealthEvent(f"arn:aws:health:us-east-1::event/EC2/ISSUE/{r}", "EC2", "AWS_EC2_OPERATIONAL_ISSUE", "issue", "us-east-1", "open", "ACCOUNT_SPECIFIC", t, None, t, 1)
    hs = [AccountResult("health", a.id, (ev,), True, t, t, 0.0, None, AS_OF) for a in config.accounts[:5]]
    t0 = time.perf_counter(); holder.publish(CollectorRun("health", t, 1.0, 5, 0), hs); times.append(time.perf_counter() - t0)
print({"accounts": n, "aws_cost_usd_series": exposition.metrics().count(b"\naws_cost_usd{"), "cost_publish_s": round(cp, 3), "health_publish_median_ms": round(statistics.median(times) * 1000, 1), "health_publish_max_ms": round(max(times) * 1000, 1)})
