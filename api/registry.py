"""A small declarative route registry: one :class:`Endpoint` per operation.

The same declaration registers the Flask view, tells the auth and JSON-parsing hooks how to
treat the route, and is the only input of the OpenAPI document and the ``/`` page, so the
documentation cannot drift from what the server really does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, current_app, request
from pydantic import BaseModel

ENDPOINTS_KEY = "api.endpoints"
View = Callable[..., Any]
# Flask's "<name>" or "<converter:name>" path segment.
_PATH_PARAM = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


@dataclass(frozen=True)
class Endpoint:
    """What one operation accepts and answers.

    ``body`` lists the accepted request models (more than one = ``oneOf`` forms), ``query``
    the model of the query string (see :mod:`api.params`) and ``responses`` the models of a
    success answer, sent with ``status``. ``auth=False`` makes the route public;
    ``engine_errors`` documents the 422 answer of the engine's data errors and ``errors`` any
    other error status the route answers, as ``(status, description)``. ``examples`` maps an
    example name to a request body shown in the document and on ``/``. Path parameters are
    Flask's ``<name>`` segments (strings).
    """

    method: str
    path: str
    summary: str
    description: str = ""
    tag: str = "api"
    body: tuple[type[BaseModel], ...] = ()
    query: type[BaseModel] | None = None
    responses: tuple[type[BaseModel], ...] = ()
    status: int = 200
    media_type: str = "application/json"
    auth: bool = True
    engine_errors: bool = False
    errors: tuple[tuple[int, str], ...] = ()
    examples: Mapping[str, Any] = field(default_factory=dict)

    @property
    def path_params(self) -> list[str]:
        """Names of the path's parameters, in order."""
        return _PATH_PARAM.findall(self.path)

    @property
    def doc_path(self) -> str:
        """The path as OpenAPI writes it: ``{name}`` for Flask's ``<name>``."""
        return _PATH_PARAM.sub(r"{\1}", self.path)


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
