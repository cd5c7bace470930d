"""The pages people use (issue 15): sign-in, the compliance dashboard, the coordinator's plan and
the family's view. Each module holds one blueprint made by ``common.make_blueprint``."""

from __future__ import annotations

from flask import Blueprint, Flask

from gateway.web import i18n
from gateway.web.pages import compliance, coordinator, family, sign_in

PAGE_MODULES = (sign_in, compliance, coordinator, family)
STATIC = Blueprint("pages_static", __name__, static_folder="../static", static_url_path="/static")


def register_pages(app: Flask) -> None:
    i18n.install(app)
    app.register_blueprint(STATIC)
    for module in PAGE_MODULES:
        app.register_blueprint(module.bp)
