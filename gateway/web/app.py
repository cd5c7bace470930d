"""The application factory: no module-level app or state, so tests and workers build their own."""

from __future__ import annotations

from typing import Any

from flask import Flask

from gateway.service.runtime import Runtime, Settings, open_runtime
from gateway.web import (
    audit_api,
    auth,
    delivery_api,
    directory_api,
    fhir_api,
    fhir_audit_api,
    ops_api,
    policy_api,
    report_api,
    smart_api,
)
from gateway.web.api import BLUEPRINTS
from gateway.web.errors import register_error_handlers
from gateway.web.limits import StrictJSONProvider, check_url
from gateway.web.metrics import register_metrics
from gateway.web.pages import register_pages
from gateway.web.request_log import register_request_log


def create_app(config: dict[str, Any] | None = None, runtime: Runtime | None = None) -> Flask:
    """A Flask app over ``runtime`` (built from the environment when not given)."""
    rt = runtime if runtime is not None else open_runtime(Settings.from_env())
    app = Flask(__name__, static_folder=None)
    # werkzeug refuses larger bodies unread (413); the exchange view stores the refusal.
    app.config["MAX_CONTENT_LENGTH"] = rt.settings.max_payload_bytes
    app.config.update(config or {})
    app.extensions[auth.RUNTIME_KEY] = rt
    app.json = StrictJSONProvider(app)
    app.before_request(check_url)  # the edge limits for the URL, before any view or token check
    register_request_log(app)  # an id and a log line for every request, refused ones included
    register_metrics(app)
    register_error_handlers(app)
    app.register_blueprint(auth.bp)
    for blueprint in (*BLUEPRINTS, policy_api.bp, delivery_api.bp, audit_api.bp, report_api.bp):
        app.register_blueprint(blueprint)
    app.register_blueprint(fhir_api.bp)  # FHIR R4 endpoints answer with OperationOutcomes
    app.register_blueprint(fhir_audit_api.bp)
    app.register_blueprint(smart_api.bp)  # SMART discovery and partners' key administration
    app.register_blueprint(ops_api.bp)  # /ready and /metrics
    app.register_blueprint(directory_api.bp)  # suggestions for a need of a plan
    register_pages(app)  # the pages people use: sign-in, compliance, coordinator, family
    return app
