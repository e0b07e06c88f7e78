"""The production server's settings (`make serve`); every value can be overridden by env.

Sync workers by default: measured on this project (docs/benchmarks/api.md, ingest.md), 2 sync
workers served cached API reads at ~1,000 req/s with 1.5-1.8 ms of worker CPU each, while 2
gthread workers (keep-alive, 2-4 threads) spent 2.2-3.6 ms per request in their Python event
loop and thread hand-offs, and pinned kept-alive connections unevenly to one worker. Behind a
proxy that keeps connections to its clients (nginx), sync workers are gunicorn's recommended
setup; `GUNICORN_WORKER_CLASS=gthread GUNICORN_THREADS=4` is there for slow clients without one.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "sync")
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
keepalive = 5
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
preload_app = True
