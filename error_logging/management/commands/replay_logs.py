"""``manage.py replay_logs FILE --service S [--speedup N]``: load recorded logs through ingestion.

Formats: JSON lines of native error items (lines with ``metric_name`` are metric samples);
NAB-style CSV ``timestamp,value`` (metric samples named after the file); loghub
``*_structured.csv`` (records at WARN and above become errors, the EventId is the error type and
the EventTemplate the fingerprint). Without ``--speedup`` the file is loaded as fast as possible
with its own timestamps and no analysis per batch; with ``--speedup N`` the timeline is moved to
start now and played N times faster than recorded, so live analysis sees it arrive.
"""

from __future__ import annotations

import csv
import hashlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from error_logging.analysis_trigger import analysis_requests_suspended
from error_logging.normalize import SEVERITY_ALIASES, TimestampError, parse_timestamp
from error_logging.services import IngestValidationError, ingest_errors, ingest_metrics
from feeding_hearts.catalog import SERVICES

_LOGHUB_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S,%f",
    "%Y-%m-%d %H:%M:%S.%f",
    "%y%m%d %H%M%S",
    "%Y-%m-%d-%H.%M.%S.%f",
    "%a %b %d %H:%M:%S %Y",
    "%d/%b/%Y:%H:%M:%S",
    "%b %d %H:%M:%S",
    "%Y%m%d %H:%M:%S:%f",
)
_KEEP_LEVELS = {"warning", "error", "critical"}


def _loghub_time(row: dict) -> datetime | None:
    parts = [row.get(k, "").strip() for k in ("Day", "Month", "Date", "Time") if row.get(k)]
    text = " ".join(parts).strip("[] ")
    if row.get("Time", "").startswith("[") or ("Time" in row and not row.get("Date")):
        text = row.get("Time", "").strip("[] ")
    for fmt in _LOGHUB_FORMATS:
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        if parsed.year == 1900:
            parsed = parsed.replace(year=timezone.now().year)
        return parsed.replace(tzinfo=UTC)
    return None


def read_records(path: Path, *, service: str) -> Iterator[tuple[str, dict]]:
    """("error" | "metric", native item) for every usable record of the file."""
    if path.suffix in (".jsonl", ".json", ".ndjson"):
        with path.open("rb") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    item = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    raise CommandError(f"{path}:{number}: not JSON ({exc})") from None
                yield ("metric" if "metric_name" in item else "error"), item
        return
    if path.suffix != ".csv":
        raise CommandError(
            f"{path}: unsupported file type (use .jsonl, NAB .csv or *_structured.csv)"
        )
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        reader = csv.DictReader(handle)
        fields = set(reader.fieldnames or [])
        if {"timestamp", "value"} <= fields:
            metric = path.stem
            for row in reader:
                yield (
                    "metric",
                    {
                        "metric_name": metric,
                        "value": row["value"],
                        "timestamp": row["timestamp"],
                    },
                )
            return
        if {"Content", "EventId"} <= fields:
            fallback = timezone.now() - timedelta(days=1)
            for number, row in enumerate(reader):
                level = SEVERITY_ALIASES.get((row.get("Level") or "").strip().lower())
                if level not in _KEEP_LEVELS:
                    continue
                moment = _loghub_time(row) or fallback + timedelta(seconds=number)
                template = row.get("EventTemplate") or row["Content"]
                component = (row.get("Component") or "").strip()
                yield (
                    "error",
                    {
                        "error_type": f"{component}:{row['EventId']}"
                        if component
                        else row["EventId"],
                        "message": row["Content"],
                        "severity": level,
                        "fingerprint": hashlib.sha1(template.encode()).hexdigest()[:32],
                        "occurred_at": moment.isoformat(),
                        "tags": {"source": "loghub", "event_id": row["EventId"]},
                        "context": {"template": template, "line": row.get("LineId", "")},
                    },
                )
            return
        raise CommandError(
            f"{path}: unknown CSV columns {sorted(fields)}; expected timestamp,value or loghub's"
            " structured columns (Content, EventId, …)"
        )


class Command(BaseCommand):
    help = "Replay recorded logs (JSON lines, NAB CSV, loghub structured CSV) through ingestion."

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--service", required=True, choices=SERVICES)
        parser.add_argument("--speedup", type=float, default=None, help="Replay N× real time.")
        parser.add_argument("--batch", type=int, default=500)

    def handle(self, *args, **options) -> None:
        path: Path = options["file"]
        if not path.exists():
            raise CommandError(f"{path} does not exist")
        service, speedup, batch_size = options["service"], options["speedup"], options["batch"]
        if speedup is not None and speedup <= 0:
            raise CommandError("--speedup must be positive")
        totals = {"error": 0, "metric": 0, "duplicates": 0}
        batches: dict[str, list[dict]] = {"error": [], "metric": []}
        clock = _Pacer(speedup)

        def flush(kind: str) -> None:
            items = batches[kind]
            if not items:
                return
            ingest = ingest_errors if kind == "error" else ingest_metrics
            kwargs = {"source": "replay"} if kind == "error" else {}
            try:
                result = ingest(service=service, items=items, **kwargs)
            except IngestValidationError as exc:
                raise CommandError(f"{kind} batch rejected: {exc}") from None
            totals[kind] += result.accepted
            totals["duplicates"] += result.duplicates
            batches[kind] = []

        suspended = analysis_requests_suspended() if speedup is None else _nothing()
        with suspended, tqdm(desc=f"replay {path.name}", unit="rec", disable=None) as bar:
            for kind, item in read_records(path, service=service):
                key = "timestamp" if kind == "metric" else "occurred_at"
                if speedup is not None and item.get(key) is not None:
                    item[key] = clock.place(item[key])
                    if clock.due():
                        flush("error")
                        flush("metric")
                        clock.wait()
                batches[kind].append(item)
                if len(batches[kind]) >= batch_size:
                    flush(kind)
                bar.update(1)
            flush("error")
            flush("metric")
        self.stdout.write(
            f"replayed {path.name} for {service}: {totals['error']} errors, "
            f"{totals['metric']} metric samples, {totals['duplicates']} duplicates skipped"
        )


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc) -> None:
        return None


class _Pacer:
    """Moves recorded times to start now and sleeps so they arrive ``speedup`` times faster."""

    def __init__(self, speedup: float | None) -> None:
        self.speedup = speedup
        self.first: datetime | None = None
        self.started = timezone.now()
        self.wall_start = time.monotonic()
        self.offset_s = 0.0

    def place(self, raw: object) -> str:
        try:
            moment = parse_timestamp(raw, now=timezone.now() + timedelta(days=36500))
        except TimestampError as exc:
            raise CommandError(f"bad timestamp {raw!r}: {exc}") from None
        if self.first is None:
            self.first = moment
        self.offset_s = (moment - self.first).total_seconds() / (self.speedup or 1.0)
        return (self.started + timedelta(seconds=self.offset_s)).isoformat()

    def due(self) -> bool:
        return self.offset_s - (time.monotonic() - self.wall_start) > 0.5

    def wait(self) -> None:
        delay = self.offset_s - (time.monotonic() - self.wall_start)
        if delay > 0:
            time.sleep(delay)
