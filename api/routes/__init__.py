"""One blueprint per resource; :data:`BLUEPRINTS` is what :func:`api.create_app` registers."""

from __future__ import annotations

from api.routes.ai import bp as ai_bp
from api.routes.analysis import bp as analysis_bp
from api.routes.audit import bp as audit_bp
from api.routes.docs import bp as docs_bp
from api.routes.health import bp as health_bp
from api.routes.market_data import bp as market_data_bp
from api.routes.pipeline import bp as pipeline_bp
from api.routes.rebalance import bp as rebalance_bp

BLUEPRINTS = (docs_bp, health_bp, rebalance_bp, analysis_bp, market_data_bp, ai_bp, pipeline_bp, audit_bp)

__all__ = ["BLUEPRINTS"]
