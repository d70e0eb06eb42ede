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

from kith.sdk import Kith, ValidationFailed

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


async def _history(kith: Kith) -> list[dict[str, Any]]:
    """Converted leads whose deal was won (1) or lost (0), with their activities then."""
    rows = await kith.db.execute(
        "SELECT l.*, s.kind AS outcome FROM sales_lead l JOIN sales_deal d ON d.id = l.converted_deal "
        "JOIN sales_stage s ON s.id = d.stage WHERE l.deleted_at IS NULL AND d.deleted_at IS NULL "
        "AND s.kind IN ('won', 'lost') ORDER BY l.id"
    )
    leads = [dict(r) for r in rows]
    contacts = [lead["converted_contact"] for lead in leads if lead.get("converted_contact")]
    activities: dict[int, list[dict[str, Any]]] = {}
    if contacts:
        found = await kith.db.execute(
            "SELECT subject_id, kind, created_at FROM activity WHERE subject_type = 'contact' AND deleted_at IS NULL "
            f"AND subject_id IN ({', '.join('{}' for _ in contacts)})",
            *contacts,
        )
        for row in found:
            activities.setdefault(int(row["subject_id"]), []).append(dict(row))
    for lead in leads:
        converted = lead.get("converted_at")
        lead["_activities"] = [
            a
            for a in activities.get(lead.get("converted_contact") or 0, [])
            if converted is None or a["created_at"] is None or a["created_at"] <= converted
        ]
    return leads


async def train(kith: Kith) -> dict[str, Any]:
    """Fit the model on the won/lost history and store it; refuses too little history."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    history = await _history(kith)
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
    await kith.db.execute(
        "INSERT INTO sales_lead_model (trained_at, samples, model) VALUES ({}, {}, {})",
        now,
        len(history),
        json.dumps(model),
    )
    model["trained_at"] = now.isoformat()
    return model


async def current(kith: Kith) -> dict[str, Any] | None:
    rows = await kith.db.execute("SELECT trained_at, model FROM sales_lead_model ORDER BY id DESC LIMIT 1")
    if not rows:
        return None
    model: dict[str, Any] = json.loads(rows[0]["model"]) if isinstance(rows[0]["model"], str) else rows[0]["model"]
    trained = rows[0]["trained_at"]
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
