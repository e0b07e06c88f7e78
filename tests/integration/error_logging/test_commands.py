"""create_ingest_key prints a working DSN; replay_logs loads JSON lines, NAB and loghub files."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import orjson
import pytest
from django.core.management import CommandError, call_command

from error_logging.models import ErrorLog, ErrorRollup, IngestKey, MetricSample

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_ingest_key_prints_dsn_and_header():
    output = run("create_ingest_key", "django", "--host", "errors.example:8000")
    key = IngestKey.objects.get(service="django")
    assert f"http://{key.public_key}@errors.example:8000/{key.project_id}" in output
    assert f"X-Ingest-Key: {key.public_key}" in output
    second = run("create_ingest_key", "laravel")
    assert re.search(r"/2\n", second)


def test_create_ingest_key_refuses_a_used_project_id():
    run("create_ingest_key", "django", "--project-id", "7")
    with pytest.raises(CommandError):
        run("create_ingest_key", "java", "--project-id", "7")


def test_replay_json_lines(tmp_path):
    path = tmp_path / "errors.jsonl"
    lines = [
        {
            "error_type": "TimeoutError",
            "message": "upstream timed out",
            "occurred_at": f"2026-11-20T10:00:0{i}Z",
        }
        for i in range(5)
    ] + [{"metric_name": "cpu", "value": 0.9, "timestamp": "2026-11-20T10:00:00Z"}]
    path.write_bytes(b"\n".join(orjson.dumps(line) for line in lines))
    output = run("replay_logs", str(path), "--service", "react", "--batch", "2")
    assert "5 errors, 1 metric samples" in output
    assert ErrorRollup.objects.get(service="react").timeout_count == 5
    assert MetricSample.objects.get().metric_name == "cpu"


def test_replay_nab_csv_becomes_metric_samples(tmp_path):
    path = tmp_path / "ec2_cpu_utilization_demo.csv"
    path.write_text("timestamp,value\n2014-02-14 14:27:00,51.846\n2014-02-14 14:32:00,44.508\n")
    run("replay_logs", str(path), "--service", "java")
    samples = list(MetricSample.objects.order_by("timestamp"))
    assert [s.metric_name for s in samples] == ["ec2_cpu_utilization_demo"] * 2
    assert samples[0].timestamp == datetime(2014, 2, 14, 14, 27, tzinfo=UTC)
    assert samples[1].value == pytest.approx(44.508)


def test_replay_loghub_structured_keeps_warnings_and_errors(tmp_path):
    path = tmp_path / "Hadoop_2k.log_structured.csv"
    path.write_text(
        "LineId,Date,Time,Level,Process,Component,Content,EventId,EventTemplate\n"
        "1,2015-10-18,18:01:47,INFO,main,o.a.h.Mapred,Created MRAppMaster,E29,Created MRAppMaster\n"
        "2,2015-10-18,18:01:48,WARN,main,o.a.h.Lease,Failed to renew lease for 30 seconds,E42,Failed to renew lease for <*> seconds\n"
        "3,2015-10-18,18:01:49,ERROR,main,o.a.h.Rpc,Connection refused to node 10.0.0.7,E7,Connection refused to node <*>\n"
    )
    output = run("replay_logs", str(path), "--service", "java")
    assert "2 errors" in output
    rows = {r.severity: r for r in ErrorLog.objects.all()}
    assert rows["error"].error_type == "o.a.h.Rpc:E7" and rows["error"].category == "connection"
    assert rows["warning"].occurred_at == datetime(2015, 10, 18, 18, 1, 48, tzinfo=UTC)


def test_replay_with_speedup_moves_the_timeline_to_now(tmp_path):
    path = tmp_path / "speed.csv"
    path.write_text("timestamp,value\n2014-02-14 14:27:00,1\n2014-02-14 14:32:00,2\n")
    started = datetime.now(UTC)
    run("replay_logs", str(path), "--service", "vue", "--speedup", "600")  # 5 minutes in 0.5 s
    first, second = MetricSample.objects.order_by("timestamp")
    assert first.timestamp >= started.replace(microsecond=0)
    assert (second.timestamp - first.timestamp).total_seconds() == pytest.approx(0.5, abs=0.01)


def test_replay_refuses_unknown_files(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(CommandError):
        run("replay_logs", str(path), "--service", "vue")
