"""Sign-in throttling: failed passwords per username and per client address, on the token
endpoint, the dashboard login and the admin login; X-Forwarded-For counts only behind trusted
proxies; the window ends and the right user gets back in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import RequestFactory
from rest_framework.test import APIClient
from rest_framework.throttling import BaseThrottle

from feeding_hearts import throttling

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])

ROOT = Path(__file__).resolve().parents[3]
WINDOW = 900
WINDOW_START = 1_900_000 * WINDOW  # a window boundary; the tests start 10 s into it
RIGHT = {"username": "ops", "password": "ops-pass-123"}
WRONG = {"username": "ops", "password": "not-the-password"}


@pytest.fixture(autouse=True)
def clock(settings, monkeypatch):
    """The throttle's clock, pinned 10 s into a window (a run near a real window's end would
    otherwise split the failures across two windows); the defaults made explicit."""
    settings.LOGIN_FAILURE_WINDOW_SECONDS = WINDOW
    settings.LOGIN_FAILURES_PER_USERNAME = 5
    settings.LOGIN_FAILURES_PER_IP = 20
    settings.NUM_PROXIES = 0
    now = [WINDOW_START + 10.0]
    monkeypatch.setattr(throttling, "timer", lambda: now[0])
    return now


def _token(client: APIClient, body: dict, *, forwarded: str | None = None, address: str = ""):
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    extra = {"REMOTE_ADDR": address} if address else {}
    return client.post("/api/auth/token/", body, format="json", headers=headers, **extra)


# --- the token endpoint ----------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["configured", "locmem"])
def test_a_username_is_refused_after_n_failures_whatever_x_forwarded_for_says(
    ops_user, settings, backend
):
    if backend == "locmem":  # the embedded mode's cache
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    client = APIClient()

    # given five wrong passwords, each claiming another client address
    failed = [_token(client, WRONG, forwarded=f"198.51.100.{i}").status_code for i in range(1, 6)]

    # when a sixth guess and then the right password come from yet other "addresses"
    guess = _token(client, WRONG, forwarded="198.51.100.77")
    right = _token(client, RIGHT, forwarded="198.51.100.78")

    # then both are refused until the window ends, and say when to retry
    assert failed == [401] * 5
    assert guess.status_code == 429
    assert right.status_code == 429
    assert right["Retry-After"] == str(WINDOW - 10)
    error = right.json()["error"]
    assert error["code"] == "throttled"
    assert "Too many failed sign-in attempts" in error["message"]
    assert "Try again in 15 minutes" in error["message"]
    assert "access" not in right.json()


def test_the_right_password_works_again_when_the_window_ends(ops_user, clock):
    client = APIClient()
    for _ in range(5):
        _token(client, WRONG)
    assert _token(client, RIGHT).status_code == 429

    clock[0] += WINDOW - 10  # the next window

    assert _token(client, RIGHT).status_code == 200


def test_refused_attempts_do_not_count_as_failures(ops_user, settings, readonly_user):
    # given a username locked from one address, whose owner keeps retrying
    settings.LOGIN_FAILURES_PER_IP = 6
    client = APIClient()
    for _ in range(5):
        _token(client, WRONG)
    retries = [_token(client, RIGHT).status_code for _ in range(10)]

    # when another user signs in from the same address
    other = _token(client, {"username": "reader", "password": "reader-pass-123"})

    # then the retries did not fill the address's allowance (5 of 6 used)
    assert retries == [429] * 10
    assert other.status_code == 200


def test_an_address_is_refused_after_n_failures_across_usernames(ops_user, readonly_user, settings):
    settings.LOGIN_FAILURES_PER_IP = 3
    client = APIClient()

    # given two failures at other usernames, one good sign-in, one more failure
    first = [
        _token(client, {"username": name, "password": "guess"}).status_code
        for name in ("alice", "bob")
    ]
    good = _token(client, {"username": "reader", "password": "reader-pass-123"})
    third = _token(client, {"username": "carol", "password": "guess"})

    # when the right password of yet another user comes from the same address, and from another
    same_address = _token(client, RIGHT)
    other_address = _token(client, RIGHT, address="192.0.2.50")

    # then the good sign-in did not reset the address's count
    assert first == [401, 401] and good.status_code == 200 and third.status_code == 401
    assert same_address.status_code == 429
    assert other_address.status_code == 200


def test_behind_a_trusted_proxy_the_address_is_the_one_the_proxy_appended(ops_user, settings):
    settings.NUM_PROXIES = 1
    settings.LOGIN_FAILURES_PER_IP = 2
    settings.LOGIN_FAILURES_PER_USERNAME = 100
    client = APIClient()

    # given two failures from 203.0.113.7, each with another forged entry in front
    failed = [
        _token(client, WRONG, forwarded=f"10.0.0.{i}, 203.0.113.7").status_code for i in (1, 2)
    ]

    # when that client forges a third entry, and another client behind the same proxy signs in
    forged = _token(client, RIGHT, forwarded="10.0.0.3, 203.0.113.7")
    other_client = _token(client, RIGHT, forwarded="10.0.0.3, 203.0.113.8")

    assert failed == [401, 401]
    assert forged.status_code == 429
    assert other_client.status_code == 200


def test_sign_in_goes_on_when_the_throttle_cache_is_down(ops_user, monkeypatch):
    def down(key, *, timeout):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(throttling, "_increment", down)

    assert _token(APIClient(), RIGHT).status_code == 200


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, None, "192.0.2.1"),
        (0, "203.0.113.9", "192.0.2.1"),  # no proxy: the header is anyone's to write
        (1, None, "192.0.2.1"),
        (1, "203.0.113.9", "203.0.113.9"),
        (1, "10.9.9.9, 203.0.113.9", "203.0.113.9"),  # the forged entry is ignored
        (2, "10.9.9.9, 203.0.113.9, 198.51.100.2", "203.0.113.9"),
        (3, "203.0.113.9", "203.0.113.9"),  # fewer entries than proxies: the first
    ],
)
def test_client_ip_and_drf_agree(settings, proxies, forwarded, expected):
    settings.NUM_PROXIES = proxies
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": proxies}
    headers = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {}
    request = RequestFactory().post("/api/auth/token/", REMOTE_ADDR="192.0.2.1", **headers)

    assert throttling.client_ip(request) == expected
    assert BaseThrottle().get_ident(request) == expected


def test_drf_takes_its_proxy_count_from_the_same_setting():
    from django.conf import settings

    assert settings.REST_FRAMEWORK["NUM_PROXIES"] == settings.NUM_PROXIES


# --- the dashboard and the admin ------------------------------------------------------------------
def test_the_dashboard_login_shows_when_to_retry(client, ops_user, settings):
    settings.LOGIN_FAILURES_PER_USERNAME = 2

    # given two wrong passwords through the dashboard's form
    wrong = [client.post("/dashboard/login/", WRONG) for _ in range(2)]

    # when the right one follows
    refused = client.post("/dashboard/login/", RIGHT)

    # then the form says when to retry, and nobody is signed in
    assert [r.status_code for r in wrong] == [200, 200]
    assert "Wrong username or password" in wrong[0].content.decode()
    body = refused.content.decode()
    assert refused.status_code == 429
    assert refused["Retry-After"] == str(WINDOW - 10)
    assert "Too many failed sign-in attempts" in body and "Try again in 15 minutes" in body
    assert "Wrong username or password" not in body
    assert client.get("/dashboard/").status_code == 302


def test_the_dashboard_and_the_token_endpoint_count_together(client, ops_user, settings):
    settings.LOGIN_FAILURES_PER_USERNAME = 2
    _token(APIClient(), WRONG)
    client.post("/dashboard/login/", WRONG)

    assert client.post("/dashboard/login/", RIGHT).status_code == 429
    assert _token(APIClient(), RIGHT).status_code == 429


def test_the_dashboard_login_still_signs_in(client, ops_user):
    response = client.post("/dashboard/login/", RIGHT)

    assert response.status_code == 302
    assert client.get("/dashboard/").status_code == 200


def test_the_admin_login_is_throttled(client, django_user_model, settings):
    settings.LOGIN_FAILURES_PER_USERNAME = 2
    django_user_model.objects.create_superuser("root-admin", "a@example.org", "pw-123456")
    wrong = {"username": "root-admin", "password": "nope", "next": "/admin/"}

    failed = [client.post("/admin/login/", wrong).status_code for _ in range(2)]
    refused = client.post("/admin/login/", {**wrong, "password": "pw-123456"})

    assert failed == [200, 200]
    assert refused.status_code == 429
    assert refused["Retry-After"] == str(WINDOW - 10)
    assert "Try again in 15 minutes" in refused.content.decode()
    assert client.get("/admin/").status_code == 302


def test_the_admin_login_still_signs_in(client, django_user_model):
    django_user_model.objects.create_superuser("root-admin", "a@example.org", "pw-123456")

    response = client.post("/admin/login/", {"username": "root-admin", "password": "pw-123456"})

    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


# --- configuration --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("NUM_PROXIES", "two", "NUM_PROXIES='two' is not an integer"),
        ("LOGIN_FAILURES_PER_USERNAME", "0", "LOGIN_FAILURES_PER_USERNAME=0 must be at least 1"),
    ],
)
def test_a_malformed_throttle_setting_stops_start_up(tmp_path, variable, value, says):
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(
        {"FH_VAR_DIR": str(tmp_path / "var"), "FH_LOG_DIR": str(tmp_path / "logs"), variable: value}
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode != 0
    assert says in result.stderr
