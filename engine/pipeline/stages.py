"""The agents: one class per stage of :data:`engine.pipeline.definition.STAGES`.

Every stage has the same shape, ``run(context) -> StageResult``: it reads what earlier stages
published in the context, calls the engine function its :class:`StageSpec` names, and returns
a JSON-able summary (``outputs``), the objects later stages need (``artefacts``, at least its
declared outputs), its decisions and its warnings. Stages hold no state between runs.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

from engine.errors import InsufficientData, InvalidRequest
from engine.pipeline.runner import PipelineContext, StageResult
from engine.schemas import Portfolio, RebalanceResult
from engine.schemas.ai import ForecastResult, ForecastSettings, OptimizedTargets, SkillReport
from engine.schemas.execution import ExecutionSettings

__all__ = ["ApprovalStage", "ExecutionStage", "ForecastStage", "MarketDataStage", "OptimizerStage",
           "RiskStage", "SupervisorStage"]

#: Skill levels that let ``require_skill`` runs use the optimised targets.
SKILLED = ("weak", "moderate")


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f} %"


class SupervisorStage:
    """Checks what pydantic cannot (a book with value, coherent limits) and fixes the strategic targets."""

    def run(self, context: PipelineContext) -> StageResult:
        req = context.request
        p = req.portfolio
        value = p.total_value
        if not value > 0:
            raise InvalidRequest("the portfolio has no value to rebalance",
                                 [{"loc": ["portfolio"], "msg": "holdings and cash are worth 0", "type": "value_error"}])
        held = {h.symbol.upper() for h in p.holdings}
        restricted = [*req.controls.do_not_buy, *req.controls.do_not_sell]
        warnings = [f"restricted symbol {s} is not held in this portfolio" for s in restricted if s.upper() not in held]
        caps = {"optimiser turnover limit": req.optimize.turnover_limit if req.use_ai_targets else None,
                "rebalance turnover limit": req.policy.turnover_limit}
        warnings += [f"the {what} {_pct(cap)} is above the supervisor's maximum turnover "
                     f"{_pct(req.controls.max_turnover)}: a proposal using it will be blocked"
                     for what, cap in caps.items() if cap is not None and cap > req.controls.max_turnover]
        if not req.use_ai_targets:
            targets = "the strategic targets (AI targets switched off)"
        elif req.require_skill:
            targets = "optimised targets if confidence and measured skill allow, else the strategic targets"
        else:
            targets = "optimised targets if confidence allows, else the strategic targets"
        decisions = [f"request accepted: {len(p.holdings)} holdings worth {value:,.2f} {p.base_currency}",
                     f"trade towards {targets}"]
        outputs = {"portfolio": p.name, "n_holdings": len(p.holdings), "value": value,
                   "currency": p.base_currency, "as_of": p.as_of, "use_ai_targets": req.use_ai_targets,
                   "require_skill": req.require_skill, "controls": req.controls.model_dump(mode="json")}
        strategic = {h.symbol: h.target_weight for h in p.holdings}
        return StageResult(outputs, {"validated_request": req, "strategic_targets": strategic}, decisions, warnings)


class MarketDataStage:
    """The holdings' aligned return history (bundled data, proxies where a holding has none)."""

    def run(self, context: PipelineContext) -> StageResult:
        from engine.market_data import portfolio_returns

        req = context.request
        frame = portfolio_returns(req.portfolio, lookback_years=req.risk.lookback_years,
                                  periods_per_year=req.risk.periods_per_year)
        idx = frame.returns.index
        start, end = (idx[0].date(), idx[-1].date()) if frame.dated else (None, None)
        span = f" from {start} to {end}" if start else ""
        decisions = [f"aligned {frame.returns.shape[1]} histories on {len(idx)} common {frame.frequency} periods{span}"]
        decisions += [f"{symbol} uses the history of {key}" for symbol, key in frame.proxies.items()]
        outputs = {"n_periods": len(idx), "n_assets": frame.returns.shape[1], "start": start, "end": end,
                   "frequency": frame.frequency, "periods_per_year": frame.periods_per_year,
                   "proxies": dict(frame.proxies), "uncovered": list(frame.uncovered)}
        return StageResult(outputs, {"returns_frame": frame, "data_warnings": list(frame.warnings)},
                           decisions, list(frame.warnings))


class ForecastStage:
    """The ensemble forecast and its walk-forward skill on the same history (cached by data and parameters)."""

    def run(self, context: PipelineContext) -> StageResult:
        from engine.ai_service import default_settings
        from engine.forecast import forecast

        frame, req = context["returns_frame"], context.request
        # Unless the caller set them, the windows keep their calendar spans on monthly data (as in
        # /api/forecast): the daily 252-period long window would be 21 years of months.
        settings = req.forecast if "forecast" in req.model_fields_set else default_settings(frame.periods_per_year)
        fc = forecast(frame, settings=settings)
        classes = {h.symbol: h.effective_exposure for h in context.request.portfolio.holdings}
        skill, cached, why = self._skill(context, fc, classes)
        registered = self._register(context, settings, skill)
        warnings = list(fc.warnings)
        if skill is None:
            warnings.append(f"out-of-sample skill not measured: {why}")
        elif skill.skill not in SKILLED:
            warnings.append(f"the forecast shows no measured out-of-sample skill on this history: {skill.verdict}")
        decisions = [f"forecast as of {fc.as_of} over {fc.horizon} periods; average confidence "
                     f"{fc.average_confidence:.2f}",
                     f"measured skill: {skill.verdict if skill else 'not measured'}"]
        outputs = {
            "model": f"{fc.model_name} {fc.model_version}", "params_hash": fc.params_hash, "as_of": fc.as_of,
            "horizon": fc.horizon, "average_confidence": fc.average_confidence,
            "assets": {a.symbol: {"expected_return": a.expected_return, "confidence": a.confidence} for a in fc.assets},
            "skill": None if skill is None else {
                "level": skill.skill, "verdict": skill.verdict, "ic_mean": skill.ic_mean, "hit_rate": skill.hit_rate,
                "n_dates": skill.n_dates, "cached": cached},
            "registry": registered,
        }
        artefacts = {"expected_returns": {a.symbol: a.expected_return for a in fc.assets},
                     "confidence": {a.symbol: a.confidence for a in fc.assets}, "skill": skill, "forecast": fc}
        return StageResult(outputs, artefacts, decisions, warnings)

    @staticmethod
    def _register(context: PipelineContext, settings: ForecastSettings, skill: SkillReport | None
                  ) -> dict[str, Any] | None:
        """Register the model's parameters (a new version only when they are new) and store the
        walk-forward evaluation with it, so the registry's champion/challenger rule has data."""
        from engine.forecast import MODEL_NAME, model_params

        registry = getattr(context.skill_cache, "registry", None)
        if registry is None:
            return None
        record = registry.register(MODEL_NAME, model_params(settings), user=context.user)
        if skill is not None:
            record = registry.record_evaluation(record.name, record.version, json.loads(skill.model_dump_json()),
                                                user=context.user)
        return {"name": record.name, "version": record.version, "role": record.role, "approval": record.approval}

    @staticmethod
    def _skill(context: PipelineContext, fc: ForecastResult, classes: dict[str, str]
               ) -> tuple[SkillReport | None, bool, str]:
        """(report, served from cache, why missing). The walk-forward is the stage's only costly
        step and depends only on data, parameters and classes: the cache key covers all three."""
        from engine.evaluation import data_hash, walk_forward

        returns = context["returns_frame"].returns
        if not context["returns_frame"].dated:
            return None, False, "the history has no dates"
        text = json.dumps([fc.params_hash, data_hash(returns), classes], sort_keys=True)
        key = hashlib.sha256(text.encode("utf-8")).hexdigest()
        cache = context.skill_cache
        hit = cache.cached_skill(key) if cache is not None else None
        if hit is not None:
            return hit, True, ""
        try:
            report = walk_forward(returns, fc.settings, classes=classes)
        except InsufficientData as exc:
            return None, False, exc.message
        if cache is not None:
            cache.cache_skill(key, report)
        return report, False, ""


class RiskStage:
    """Risk of the book as it stands, and the annualised covariance the optimiser needs."""

    def run(self, context: PipelineContext) -> StageResult:
        from engine.risk import covariance
        from engine.risk_report import risk_report

        req, frame = context.request, context["returns_frame"]
        report = risk_report(req.portfolio, frame, req.risk)
        cov, _ = covariance(frame.returns.to_numpy(dtype=float))
        m = report.before.metrics
        outputs = {"metrics": m.model_dump(mode="json"), "window": report.window.model_dump(mode="json"),
                   "benchmark": report.benchmark,
                   "contributions": {c.symbol: c.contribution_pct for c in report.before.contributions}}
        decisions = [f"before trades: volatility {_pct(m.volatility)}, VaR 95 {_pct(m.var_95)}, "
                     f"max drawdown {_pct(m.max_drawdown)}"]
        warnings = [w for w in report.warnings if w not in frame.warnings]
        return StageResult(outputs, {"risk_report": report, "covariance": cov * frame.periods_per_year},
                           decisions, warnings)


class OptimizerStage:
    """The targets to trade towards: optimised when allowed and the solver succeeds, else strategic, with why."""

    def run(self, context: PipelineContext) -> StageResult:
        req = context.request
        strategic: dict[str, float] = context["strategic_targets"]
        skill: SkillReport | None = context["skill"]
        opt: OptimizedTargets | None = None
        if not req.use_ai_targets:
            reason = "AI targets are switched off (use_ai_targets is false): the strategic targets are kept"
        elif req.require_skill and (skill is None or skill.skill not in SKILLED):
            reason = ("the forecast has no measured skill on this history "
                      f"({skill.verdict if skill else 'not measured'}) and skill is required: "
                      "the strategic targets are kept")
        else:
            opt = self._optimise(context)
            reason = opt.reason
        source = "optimised" if opt is not None and opt.status == "optimised" else "strategic"
        targets = dict(opt.weights) if source == "optimised" and opt is not None else dict(strategic)
        tilts = {s: targets[s] - strategic[s] for s in strategic}
        decisions = [f"trade towards the {source} targets: {reason}"]
        if opt is not None and source == "optimised":
            decisions += [f"{a.symbol}: {a.reason}" for a in opt.assets if abs(a.tilt) > 1e-4]
        outputs = {"source": source, "reason": reason, "status": opt.status if opt else "skipped",
                   "solver_status": opt.solver_status if opt else None,
                   "solve_ms": 1e3 * opt.solve_seconds if opt and opt.solve_seconds is not None else None,
                   "targets": targets, "tilts": tilts, "turnover": opt.turnover if opt else None,
                   "expected_return": opt.expected_return if opt else None,
                   "active_volatility": opt.active_volatility if opt else None,
                   "binding": list(opt.binding) if opt else []}
        artefacts = {"optimised_targets": targets, "optimisation": opt, "target_source": source,
                     "target_reason": reason}
        return StageResult(outputs, artefacts, decisions, list(opt.warnings) if opt else [])

    @staticmethod
    def _optimise(context: PipelineContext) -> OptimizedTargets:
        from engine.optimize import OptimizeInputs, optimize_targets

        req = context.request
        p = req.portfolio
        total = p.total_value
        policy = req.policy
        inputs = OptimizeInputs.from_forecast(
            context["forecast"], context["covariance"],
            strategic=[h.target_weight for h in p.holdings], current=[h.value / total for h in p.holdings],
            classes=[h.effective_exposure for h in p.holdings],
            cost_bps=[policy.cost_bps_by_class.get(h.asset_class, policy.cost_bps) for h in p.holdings])
        return optimize_targets(inputs, req.optimize)


def with_targets(portfolio: Portfolio, targets: dict[str, float]) -> Portfolio:
    """The portfolio with its target weights replaced (renormalised against solver round-off)."""
    w = np.array([max(targets[h.symbol], 0.0) for h in portfolio.holdings])
    w = w / w.sum()
    data = portfolio.model_dump()
    for holding, weight in zip(data["holdings"], w, strict=True):
        holding["target_weight"] = float(weight)
    return Portfolio.model_validate(data)


def cost_estimate(proposal: RebalanceResult, settings: ExecutionSettings) -> dict[str, Any]:
    """The pre-trade cost estimate: the rebalancer's commission (bps × value) and the expected
    all-in cost (commission, half spread, square-root impact) of the execution model without noise."""
    from engine.execution import simulate_execution

    expected = simulate_execution(proposal, settings.model_copy(update={"impact_noise": 0.0})).totals
    value = proposal.totals.portfolio_value
    return {"commission": proposal.totals.total_cost, "expected_cost": expected.simulated_cost,
            "expected_cost_bps": expected.simulated_cost_bps,
            "expected_cost_bps_of_portfolio": 1e4 * expected.simulated_cost / value if value > 0 else None,
            "spread_cost": expected.spread_cost, "impact_cost": expected.impact_cost,
            "traded_value": expected.decision_value}


class ExecutionStage:
    """The order proposal: whole-lot trades towards the chosen targets, and their estimated cost."""

    def run(self, context: PipelineContext) -> StageResult:
        from engine.rebalance import rebalance

        req = context.request
        book = with_targets(req.portfolio, context["optimised_targets"])
        proposal = rebalance(book, req.policy)
        t = proposal.totals
        estimate = cost_estimate(proposal, req.execution)
        orders = [{"symbol": x.symbol, "action": x.action, "units": x.units, "trade_value": x.trade_value,
                   "cost": x.cost} for x in proposal.trades if x.action != "HOLD"]
        decisions = [f"{t.n_trades} trades towards the {context['target_source']} targets: buys "
                     f"{t.buy_value:,.2f}, sells {t.sell_value:,.2f}, turnover {_pct(t.turnover)}, "
                     f"commission {t.total_cost:,.2f}, expected all-in cost {estimate['expected_cost']:,.2f}"]
        decisions += [f"stopped short by: {', '.join(t.limits_bound)}"] if t.limits_bound else []
        outputs = {"n_trades": t.n_trades, "buy_value": t.buy_value, "sell_value": t.sell_value,
                   "turnover": t.turnover, "residual_cash_weight": t.residual_cash_weight,
                   "limits_bound": list(t.limits_bound), "cost_estimate": estimate, "orders": orders}
        artefacts = {"trades": proposal.trades, "totals": t, "cost_estimate": estimate, "proposal": proposal}
        return StageResult(outputs, artefacts, decisions, list(proposal.warnings))


class ApprovalStage:
    """Post-trade risk and every pre-trade control: ``awaiting_approval`` or ``blocked``."""

    def run(self, context: PipelineContext) -> StageResult:
        from engine.governance.controls import ControlContext, run_controls
        from engine.risk_report import risk_report

        req, proposal = context.request, context["proposal"]
        after = risk_report(req.portfolio, context["returns_frame"], req.risk, proposal.post_trade_weights).after
        post = after.metrics if after is not None else None
        report = run_controls(ControlContext(req.portfolio, proposal, req.controls, post))
        decision = "awaiting_approval" if report.approvable else "blocked"
        decisions = [f"{r.control}: {r.status}{' (hard)' if r.hard else ''}: {r.reason}" for r in report.results]
        failed = [r.control for r in report.results if r.status == "fail" and r.hard]
        decisions.append(f"blocked: hard control{'s' if len(failed) > 1 else ''} failed: {', '.join(failed)}"
                         if failed else "awaiting approval: every hard control passed; an explicit approve "
                                        "with a note is required")
        outputs = {"decision": decision, "approvable": report.approvable, "n_fail": report.n_fail,
                   "n_warn": report.n_warn,
                   "post_trade": {"volatility": post.volatility if post else None,
                                  "var_95": post.var_95 if post else None},
                   "controls": [r.model_dump(mode="json") for r in report.results]}
        warnings = [r.reason for r in report.results if r.status == "warn"]
        return StageResult(outputs, {"post_trade_risk": post, "control_report": report, "decision": decision},
                           decisions, warnings)
