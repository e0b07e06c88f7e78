"""Our own endpoints: ``POST /api/errors/`` and ``POST /api/metrics/`` (one item or a list)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from error_logging.ingest.common import (
    IngestHTTPError,
    authenticate,
    check_rate_limit,
    config_value,
    json_response,
    key_from_headers,
    parse_json,
    read_body,
)
from error_logging.services import (
    IngestResult,
    IngestServiceMismatch,
    IngestValidationError,
    ingest_errors,
    ingest_metrics,
)

logger = logging.getLogger(__name__)


def _items(data: object) -> list:
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list):
        if not data:
            raise IngestHTTPError(400, "the list is empty")
        return data
    raise IngestHTTPError(400, "body must be a JSON object or a list of objects")


def _handle(
    request: HttpRequest, ingest: Callable[..., IngestResult], ids_name: str
) -> HttpResponse:
    try:
        if request.method != "POST":
            raise IngestHTTPError(405, "use POST", code="method_not_allowed")
        info = authenticate(key_from_headers(request))
        items = _items(parse_json(read_body(request)))
        max_batch = config_value("INGEST_MAX_BATCH", 1000)
        if len(items) > max_batch:
            raise IngestHTTPError(
                413,
                f"batch of {len(items)} items exceeds the maximum of {max_batch}",
                code="batch_too_large",
            )
        try:
            # the rate limit counts valid batches only: a refused batch costs no quota
            result = ingest(
                service=info.service,
                items=items,
                admit=lambda count: check_rate_limit(info, count),
            )
        except IngestServiceMismatch as exc:
            logger.warning(
                "ingest key %s of %s sent another service's item: %s", info.id, info.service, exc
            )
            raise IngestHTTPError(
                403, str(exc), code="wrong_service", extra={"index": exc.index, "field": exc.field}
            ) from None
        except IngestValidationError as exc:
            raise IngestHTTPError(
                400, str(exc), extra={"index": exc.index, "field": exc.field}
            ) from None
        return json_response(
            {
                "service": result.service,
                "accepted": result.accepted,
                "duplicates": result.duplicates,
                ids_name: result.ids,
            },
            status=201,
        )
    except IngestHTTPError as exc:
        return exc.response()


def handle_errors(request: HttpRequest) -> HttpResponse:
    return _handle(request, ingest_errors, "error_ids")


def handle_metrics(request: HttpRequest) -> HttpResponse:
    return _handle(request, ingest_metrics, "sample_ids")
