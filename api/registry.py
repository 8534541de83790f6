"""A small declarative route registry: one :class:`Endpoint` per operation.

The same declaration registers the Flask view, tells the auth and JSON-parsing hooks how to
treat the route, and is the only input of the OpenAPI document and the ``/`` page, so the
documentation cannot drift from what the server really does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, current_app, request
from pydantic import BaseModel

ENDPOINTS_KEY = "api.endpoints"
View = Callable[[], Any]


@dataclass(frozen=True)
class Endpoint:
    """What one operation accepts and answers.

    ``body`` lists the accepted request models (more than one = ``oneOf`` forms) and
    ``responses`` the models of a 200 answer. ``auth=False`` makes the route public;
    ``engine_errors`` documents the 422 answer of the engine's data errors. ``examples``
    maps an example name to a request body shown in the document and on ``/``.
    """

    method: str
    path: str
    summary: str
    description: str = ""
    tag: str = "api"
    body: tuple[type[BaseModel], ...] = ()
    responses: tuple[type[BaseModel], ...] = ()
    media_type: str = "application/json"
    auth: bool = True
    engine_errors: bool = False
    examples: Mapping[str, Any] = field(default_factory=dict)


class DocumentedBlueprint(Blueprint):
    """A blueprint whose routes are declared with an :class:`Endpoint`."""

    def __init__(self, name: str, import_name: str) -> None:
        super().__init__(name, import_name)
        self.endpoints: list[tuple[str, Endpoint]] = []

    def operation(self, spec: Endpoint) -> Callable[[View], View]:
        """Register the decorated view for ``spec`` (no automatic OPTIONS: there is no CORS)."""

        def decorator(view: View) -> View:
            self.add_url_rule(spec.path, view_func=view, methods=[spec.method], provide_automatic_options=False)
            self.endpoints.append((f"{self.name}.{view.__name__}", spec))
            return view

        return decorator


def current_endpoint() -> Endpoint | None:
    """The declaration of the route serving this request; ``None`` for 404s and undeclared routes."""
    if request.url_rule is None or request.endpoint is None:
        return None
    return current_app.extensions[ENDPOINTS_KEY].get(request.endpoint)


def declared_endpoints() -> list[Endpoint]:
    """Every declared operation of the current app, in registration order."""
    return list(current_app.extensions[ENDPOINTS_KEY].values())
