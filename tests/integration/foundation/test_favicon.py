"""The site has a favicon: /favicon.ico answers (no 404 in the browser console) and the
dashboard pages link the same icon."""

from __future__ import annotations

import pytest
from django.contrib.staticfiles import finders
from django.templatetags.static import static


def test_favicon_ico_redirects_to_the_dashboards_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"] == static("dashboard/favicon.svg")


def test_the_icon_is_a_static_svg():
    path = finders.find("dashboard/favicon.svg")
    assert path, "static/dashboard/favicon.svg is missing"
    with open(path, encoding="utf-8") as handle:
        assert handle.read().startswith("<svg xmlns=")


@pytest.mark.django_db
def test_the_dashboard_pages_link_the_icon(client):
    page = client.get("/dashboard/login/")
    assert page.status_code == 200
    link = f'<link rel="icon" type="image/svg+xml" href="{static("dashboard/favicon.svg")}">'
    assert link in page.content.decode()


def test_the_icon_is_served_in_development(client, settings):
    settings.DEBUG = True  # runserver's static serving (production: collectstatic + the proxy)
    from django.contrib.staticfiles.views import serve
    from django.test import RequestFactory

    response = serve(RequestFactory().get("/static/dashboard/favicon.svg"), "dashboard/favicon.svg")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"


def test_the_site_root_leads_to_the_dashboard(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/dashboard/"
