"""Unknown paths and crashes under /api/ answer in the API's JSON error shape; the dashboard
keeps Django's HTML pages; a path missing its trailing slash still redirects."""

from __future__ import annotations

import json

import pytest
from django.test import RequestFactory

from feeding_hearts.errors import server_error


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/api/ml/predictons/", "/api/ml/predictions/x/y/", "/api/nothing/here/"]
)
def test_an_unknown_api_path_is_a_json_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == "not_found"
    assert path in error["message"] and "/api/docs/" in error["message"]


@pytest.mark.django_db
def test_an_unknown_dashboard_path_stays_an_html_404(client):
    response = client.get("/dashboard/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.django_db
def test_a_known_api_path_without_its_slash_still_redirects(client):
    response = client.get("/api/ml/predictions")
    assert response.status_code == 301
    assert response["Location"] == "/api/ml/predictions/"


def test_a_crash_under_the_api_is_a_json_500():
    response = server_error(RequestFactory().get("/api/ml/predictions/"))
    assert response.status_code == 500
    assert json.loads(response.content)["error"]["code"] == "server_error"


def test_a_crash_on_a_page_stays_html():
    response = server_error(RequestFactory().get("/dashboard/"))
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")
