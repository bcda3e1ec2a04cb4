"""``freedave serve``: an OpenAI-compatible HTTP server that batches concurrent requests.

Needs the ``serve`` extra (fastapi, uvicorn, prometheus-client); nothing outside this package
imports it. ``create_app(loaded, settings)`` builds the app; ``Settings`` holds the limits and the
generation defaults.
"""

from freedave.serve.settings import Settings

__all__ = ["Settings", "create_app"]


def create_app(loaded, settings: Settings):  # noqa: ANN001, ANN201 - fastapi imported lazily
    """The FastAPI app serving ``loaded`` (see ``freedave.serve.app``)."""
    from freedave.serve.app import create_app as build

    return build(loaded, settings)
