"""The HTTP face of the gateway (Flask): ``create_app()`` builds one app per runtime."""

from gateway.web.app import create_app

__all__ = ["create_app"]
