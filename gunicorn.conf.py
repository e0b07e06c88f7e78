"""The production server's settings (`make serve`); every value can be overridden by env.

Threaded workers (gthread) by default: they keep client connections alive (sync workers close
every connection, so each request of a polling dashboard or an SDK pays a new TCP handshake and
accept) and overlap the waits on PostgreSQL and Redis. With 2 workers × 4 threads the API served
~2× the requests per second of 2 sync workers on the same 2 cores (docs/benchmarks/api.md).
"""

import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
keepalive = 5
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
preload_app = True
