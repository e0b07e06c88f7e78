"""Sign-in throttling: failed sign-ins counted per username and per client address.

Every door that takes a password (the JWT token endpoint, the dashboard and admin login forms)
refuses further attempts with 429 and Retry-After once a username, or a client address, has
failed ``LOGIN_FAILURES_PER_USERNAME`` / ``LOGIN_FAILURES_PER_IP`` times in the current window
of ``LOGIN_FAILURE_WINDOW_SECONDS``. The counters live in the shared cache (Redis in production)
so every worker counts together; windows are fixed, like the API throttle's, so a refusal always
ends at the window's end and a locked-out owner gets back in without anyone's help.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)
timer: Callable[[], float] = time.time  # the clock of the windows; tests move it


def client_ip(request: Any) -> str:
    """The client's address: ``REMOTE_ADDR``, or behind ``NUM_PROXIES`` trusted proxies the
    X-Forwarded-For entry the outermost of them appended, the right-most one a client cannot
    write itself. DRF's throttles pick the same entry (its ``NUM_PROXIES`` is this setting)."""
    remote = request.META.get("REMOTE_ADDR") or ""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    proxies = settings.NUM_PROXIES
    if proxies == 0 or not forwarded:
        return remote
    entries = forwarded.split(",")
    return entries[-min(proxies, len(entries))].strip() or remote


def _address_scope(address: str) -> str:
    """What one client's counter covers: the IPv4 address, or the IPv6 /64, since a single host
    usually holds a whole /64 and could otherwise take a fresh address per guess."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address  # not an address (an odd proxy header): counted as given
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # a dual-stack socket's IPv4 client
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network((ip, 64), strict=False))
    return str(ip)


def _digest(value: str) -> str:
    """Keys stay short and cache-safe whatever was typed, and the cache holds no usernames."""
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def login_throttled_message(retry_after: int) -> str:
    if retry_after < 90:
        when = f"{retry_after} second{'' if retry_after == 1 else 's'}"
    else:
        when = f"{math.ceil(retry_after / 60)} minutes"
    return (
        "Too many failed sign-in attempts for this username or from this address. "
        f"Try again in {when}."
    )


@dataclass(frozen=True)
class LoginAttempt:
    username_key: str
    address_key: str
    counted: bool  # False when refused or the cache was down: nothing to take back
    retry_after: int | None  # seconds until the window ends when refused; None: go ahead


def login_attempt_begin(request: Any, *, username: str) -> LoginAttempt:
    """Count a sign-in attempt as a failure before the password is checked, or refuse it.

    Counting first (one atomic increment per counter) means parallel guesses cannot all pass a
    check made before any of them failed. A refused attempt is taken back at once: retrying
    while refused neither extends the wait nor fills the address's counter for the others
    behind it. A cache outage lets the attempt through, as the API throttle does.
    """
    window = settings.LOGIN_FAILURE_WINDOW_SECONDS
    now = timer()
    index = int(now // window)
    address = client_ip(request)
    username_key = f"login-failures:username:{_digest(username.strip().casefold())}:{index}"
    address_key = f"login-failures:address:{_digest(_address_scope(address))}:{index}"
    try:
        username_failures = _increment(username_key, timeout=window + 1)
        address_failures = _increment(address_key, timeout=window + 1)
    except Exception:
        logger.warning("sign-in throttle cache unavailable; attempt allowed", exc_info=True)
        return LoginAttempt(username_key, address_key, counted=False, retry_after=None)
    over_username = username_failures > settings.LOGIN_FAILURES_PER_USERNAME
    over_address = address_failures > settings.LOGIN_FAILURES_PER_IP
    if not (over_username or over_address):
        return LoginAttempt(username_key, address_key, counted=True, retry_after=None)
    attempt = LoginAttempt(
        username_key,
        address_key,
        counted=False,
        retry_after=max(1, math.ceil((index + 1) * window - now)),
    )
    _take_back(username_key, address_key)
    # once per counter and window: a refused flood must not flood the log as well
    refused_key = username_key if over_username else address_key
    try:
        first_refusal = cache.add(f"{refused_key}:logged", 1, timeout=window + 1)
    except Exception:
        first_refusal = False
    if first_refusal:
        logger.warning(
            "sign-in refused for %ss: too many failures %s (username digest %s, address %s)",
            attempt.retry_after,
            "for the username" if over_username else "from the address",
            _digest(username.strip().casefold())[:12],
            address,
        )
    return attempt


def login_attempt_succeeded(attempt: LoginAttempt) -> None:
    """The password was right: take back this attempt's count, and only it. The address's other
    failures stay, or one good account would reset the guesses made at other usernames; the
    username's stay until the window ends, or its owner signing in would hand a guesser a
    fresh allowance."""
    if attempt.counted:
        _take_back(attempt.username_key, attempt.address_key)


def _increment(key: str, *, timeout: int) -> int:
    counter = getattr(cache, "count_in_window", None)
    if counter is not None:  # Redis: INCR + EXPIRE in one round trip
        return int(counter(key, timeout))
    if cache.add(key, 1, timeout=timeout):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=timeout)
        return 1


def _take_back(*keys: str) -> None:
    for key in keys:
        try:
            cache.decr(key)
        except ValueError:  # the window's counter expired meanwhile: nothing left to take back
            pass
        except Exception:
            logger.warning("sign-in throttle cache unavailable", exc_info=True)


class ThrottledAuthenticationForm(AuthenticationForm):
    """Django's login form behind the sign-in throttle; a refusal is the form's error, and
    ``retry_after`` tells the view (``login_view_throttled``) to answer 429."""

    retry_after: int | None = None

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if self.request is None or username is None or not password:
            return super().clean()  # nothing to guess with, or no client to count
        attempt = login_attempt_begin(self.request, username=username)
        if attempt.retry_after is not None:
            self.retry_after = attempt.retry_after
            raise forms.ValidationError(
                login_throttled_message(attempt.retry_after), code="throttled"
            )
        cleaned = super().clean()  # a wrong password raises here: the attempt stays counted
        login_attempt_succeeded(attempt)
        return cleaned


class ThrottledAdminAuthenticationForm(ThrottledAuthenticationForm, AdminAuthenticationForm):
    """The admin's login form (staff only) behind the same throttle."""


def login_view_throttled(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A login view that answers 429 with Retry-After when the throttle refused its form; the
    page is the same, the form's error says when to try again."""

    @wraps(view)
    def throttled(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        form = (getattr(response, "context_data", None) or {}).get("form")
        retry_after = getattr(form, "retry_after", None)
        if retry_after is not None:
            response.status_code = 429
            response["Retry-After"] = str(retry_after)
        return response

    return throttled
