"""Lead scoring by a model: a logistic regression (scikit-learn) trained on converted
leads whose deals were won or lost, reporting each factor's share of a lead's chance.

Rules say what the sales team believes; the model says what the history shows.  Both
are kept side by side on a lead.  The trained model is stored as plain numbers (its
features, coefficients and intercept), never pickled, so predicting needs no
scikit-learn and a stored model can be read by anyone.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from kith.plugins.sales.models import Lead, LeadModel
from kith.sdk import PluginContext, ValidationFailed

if TYPE_CHECKING:
    from kith.plugins.sales.scoring import ScoreLine

#: the timeline kinds the model counts
ACTIVITY_KINDS = ("call", "email", "meeting")
MIN_SAMPLES = 10

_FLAGS = {
    "authority": ("authority", "talking to who decides"),
    "budget": ("budget", "budget known"),
    "need": ("need", "need stated"),
    "decision_date": ("decision_date", "decision date set"),
}


def features(lead: Mapping[str, Any], activities: list[dict[str, Any]], sources: list[str]) -> dict[str, float]:
    """What the model sees of a lead: BANT flags, its source, and its activity counts
    (log-scaled: the tenth call says less than the first)."""
    values: dict[str, float] = {name: 1.0 if lead.get(column) else 0.0 for name, (column, _) in _FLAGS.items()}
    for source in sources:
        values[f"source:{source}"] = 1.0 if lead.get("source") == source else 0.0
    for kind in ACTIVITY_KINDS:
        values[f"{kind}s"] = math.log1p(sum(1 for a in activities if a["kind"] == kind))
    return values


def _label(feature: str, value: float) -> str:
    if feature in _FLAGS:
        return _FLAGS[feature][1] if value else f"no {feature.replace('_', ' ')}"
    if feature.startswith("source:"):
        return f"source is {feature.removeprefix('source:')}"
    count = round(math.expm1(value))
    return f"{count} {feature.removesuffix('s')}{'' if count == 1 else 's'}"


async def _history(context: PluginContext) -> list[dict[str, Any]]:
    """Converted leads whose deal was won (1) or lost (0), with their activities then.

    The model learns from the whole history, whoever may read it: the system reads."""
    deal = Lead.converted_deal._
    outcome = deal.stage._.kind
    rows = (
        await Lead.select(*Lead.all_columns(), outcome.as_alias("outcome"))
        .where(
            Lead.deleted_at.is_null()
            & deal.deleted_at.is_null()
            & deal.id.is_not_null()
            & outcome.is_in(["won", "lost"])
        )
        .order_by(Lead.id)
    )
    leads = [dict(r) for r in rows]
    contacts = sorted({lead["converted_contact"] for lead in leads if lead.get("converted_contact")})
    activities: dict[int, list[dict[str, Any]]] = {}
    if contacts:
        timelines = {"subjectType": {"eq": "contact"}, "subjectId": {"in": contacts}}
        async for row in context.system.each("activity", timelines):
            activities.setdefault(int(row["subject_id"]), []).append(row)
    for lead in leads:
        converted = lead.get("converted_at")
        lead["_activities"] = [
            a
            for a in activities.get(lead.get("converted_contact") or 0, [])
            if converted is None or a["created_at"] is None or a["created_at"] <= converted
        ]
    return leads


async def train(context: PluginContext) -> dict[str, Any]:
    """Fit the model on the won/lost history and store it; refuses too little history.

    Training needs scikit-learn, an optional extra (``kith-crm[ml]``) so that a plain
    install stays light; without it leads are scored by the rules alone, and a stored
    model still predicts (a dot product, no scikit-learn)."""
    try:
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import cross_val_score
    except ImportError:
        raise ValidationFailed.single(
            "model",
            "unavailable",
            "training the lead model needs scikit-learn: pip install 'kith-crm[ml]' "
            "(until then leads are scored by the scoring rules alone)",
        ) from None

    history = await _history(context)
    won = sum(1 for lead in history if lead["outcome"] == "won")
    lost = len(history) - won
    if len(history) < MIN_SAMPLES or min(won, lost) < 2:
        raise ValidationFailed.single(
            "history",
            "insufficient",
            f"the model needs at least {MIN_SAMPLES} converted leads with won or lost deals, "
            f"at least 2 of each (have {won} won, {lost} lost)",
        )
    sources = sorted({str(lead["source"]) for lead in history if lead.get("source")})
    rows = [features(lead, lead["_activities"], sources) for lead in history]
    names = list(rows[0])
    x = [[row[name] for name in names] for row in rows]
    y = [1 if lead["outcome"] == "won" else 0 for lead in history]
    estimator = LogisticRegression(max_iter=1000)
    folds = min(5, won, lost)
    accuracy = float(cross_val_score(estimator, x, y, cv=folds).mean()) if folds >= 2 else None
    estimator.fit(x, y)
    model = {
        "features": names,
        "coefficients": [float(c) for c in estimator.coef_[0]],
        "intercept": float(estimator.intercept_[0]),
        "sources": sources,
        "samples": len(history),
        "won": won,
        "lost": lost,
        "accuracy": accuracy,
        "folds": folds,
    }
    now = dt.datetime.now(dt.UTC)
    await LeadModel.insert(LeadModel(trained_at=now, samples=len(history), model=json.dumps(model)))
    model["trained_at"] = now.isoformat()
    return model


async def current() -> dict[str, Any] | None:
    """The last trained model (the plugin's own table: no record scope applies)."""
    row = await LeadModel.select(LeadModel.trained_at, LeadModel.model).order_by(LeadModel.id, ascending=False).first()
    if row is None:
        return None
    model: dict[str, Any] = json.loads(row["model"]) if isinstance(row["model"], str) else row["model"]
    trained = row["trained_at"]
    model["trained_at"] = trained.isoformat() if hasattr(trained, "isoformat") else trained
    return model


def predict(
    model: dict[str, Any], lead: Mapping[str, Any], activities: list[dict[str, Any]]
) -> tuple[int, list[ScoreLine]]:
    """The lead's chance of being won (percent) and the factors behind it, largest first.

    A factor's points are its contribution to the log-odds, in hundredths: +69 means
    it doubles the odds.
    """
    from kith.plugins.sales.scoring import ScoreLine

    values = features(lead, activities, list(model["sources"]))
    contributions = [
        (name, weight * values.get(name, 0.0), values.get(name, 0.0))
        for name, weight in zip(model["features"], model["coefficients"], strict=True)
    ]
    log_odds = model["intercept"] + sum(c for _, c, _ in contributions)
    chance = round(100 / (1 + math.exp(-log_odds)))
    lines = [
        ScoreLine("model", _label(name, value), round(c * 100), f"{c:+.2f} log-odds")
        for name, c, value in sorted(contributions, key=lambda item: -abs(item[1]))
        if round(c * 100)
    ]
    return chance, lines
