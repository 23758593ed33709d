"""Simulated data sets with known effects, built from the seed documents.

Used for the bundled examples, the statistical tests and the benchmarks. Each generator is a pure
function of its arguments (fixed seed in, same frame out) and returns the true individual effect
on the outcome's own scale in ``true_effect``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _logit(p):
    return np.log(p / (1 - p))


def _expit(x):
    return 1 / (1 + np.exp(-x))


def bleeding_trial(n: int = 2000, *, seed: int = 123, effect_scale: float = 1.0) -> pd.DataFrame:
    """The hierarchical-Bayes paper's simulated anticoagulation trial (its appendix A).

    Parameters
    ----------
    n : int
        Number of patients.
    seed : int
        Random seed.
    effect_scale : float
        Multiplies the treatment's log-odds effect; 0 gives a trial where the drug does nothing.

    Returns
    -------
    DataFrame
        Columns as in the paper's Table 3, plus ``true_effect``: the change in bleeding risk
        caused by treatment (risk difference; positive means more bleeding, i.e. harm).
    """
    rng = np.random.default_rng(seed)
    age = np.clip(rng.normal(55, 12, n), 25, 85)
    female = rng.binomial(1, 0.52, n)
    bp = rng.multivariate_normal([130, 80], [[200, 100], [100, 100]], n)
    sbp = np.clip(bp[:, 0], 85, 220)
    dbp = np.clip(bp[:, 1], 45, 130)
    bmi = np.clip(rng.normal(28, 5, n), 16, 50)
    hypertension = ((sbp >= 140) | (dbp >= 90)).astype(int)
    diabetes = rng.binomial(1, 0.2 + 0.2 * (bmi > 30))
    smoking = rng.binomial(1, 0.25 - 0.1 * (age > 65))
    anticoagulant = rng.binomial(1, 0.3, n)
    prior_bleeding = rng.binomial(1, 0.1, n)
    treatment = rng.binomial(1, 0.5, n)
    baseline = _expit(-3.5 + 0.02 * (age - 55) + 0.8 * anticoagulant + 1.2 * prior_bleeding
                      + 0.3 * diabetes + 0.01 * (sbp - 130))
    log_odds_effect = effect_scale * (
        -0.2 + 0.5 * (age - 55) / 10 + 0.4 * anticoagulant - 0.3 * diabetes
        - 0.2 * (bmi > 30) + 0.3 * prior_bleeding
    )
    risk_treated = _expit(_logit(baseline) + log_odds_effect)
    event = rng.binomial(1, np.where(treatment == 1, risk_treated, baseline))
    yes_no = np.array(["No", "Yes"])
    return pd.DataFrame({
        "subject_id": np.arange(1, n + 1),
        "age": np.round(age, 1),
        "gender": np.array(["Male", "Female"])[female],
        "bmi": np.round(bmi, 1),
        "sbp": np.round(sbp).astype(int),
        "dbp": np.round(dbp).astype(int),
        "hypertension": yes_no[hypertension],
        "diabetes": yes_no[diabetes],
        "smoking": yes_no[smoking],
        "anticoagulant": yes_no[anticoagulant],
        "prior_bleeding": yes_no[prior_bleeding],
        "treatment": np.array(["Control", "Treatment"])[treatment],
        "event": event,
        "true_effect": np.round(risk_treated - baseline, 6),
    })


def financial_literacy(n: int = 5000, *, seed: int = 7) -> pd.DataFrame:
    """The econometrics paper's financial-literacy programme (an observational programme).

    Younger, lower-income and less-educated people gain most (the paper's findings); enrolment
    depends on education and employment, so the propensity must be estimated. Per-person cost
    is higher for the unemployed (extra coaching).

    Returns
    -------
    DataFrame
        ``person_id, age, income, education, employment, enrolled, cost, savings_rate_change,
        true_effect`` (effect in percentage points of savings rate).
    """
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 66, n)
    education = np.clip(np.round(rng.normal(13.5, 3, n)), 0, 20).astype(int)
    income = np.clip(rng.lognormal(np.log(42000) + 0.03 * (education - 13.5), 0.45, n), 15000, 100000)
    unemployed = rng.binomial(1, 0.12, n)
    effect = (3.0 + 1.5 * (age <= 25) - 1.5 * (income >= 60000) + 0.8 * (education < 12)
              - 0.02 * (age - 40) - 1.0 * unemployed * (age > 50))
    propensity = _expit(-0.2 + 0.1 * (education - 13.5) + 0.5 * unemployed)
    enrolled = rng.binomial(1, propensity)
    baseline = 2.0 + 0.00004 * (income - 40000) - 0.02 * (age - 40) + 0.1 * (education - 13.5) - 1.0 * unemployed
    savings = baseline + enrolled * effect + rng.normal(0, 2.5, n)
    return pd.DataFrame({
        "person_id": [f"P{i:05d}" for i in range(1, n + 1)],
        "age": age,
        "income": np.round(income, -2),
        "education": education,
        "employment": np.array(["employed", "unemployed"])[unemployed],
        "enrolled": enrolled,
        "cost": np.where(unemployed == 1, 350.0, 200.0),
        "savings_rate_change": np.round(savings, 2),
        "true_effect": np.round(effect, 4),
    })


def cate_lesson(n: int = 1000, *, seed: int = 42) -> pd.DataFrame:
    """The CATE lesson's simulation: five uniform covariates, effect ``2*x1 - x2``.

    As in the lesson, the treated outcome adds the noise draw a second time.
    """
    rng = np.random.default_rng(seed)
    x = rng.random((n, 5))
    t = rng.integers(0, 2, n)
    noise = rng.normal(0, 0.5, n)
    y0 = x @ np.array([1, 2, 3, 4, 5]) + noise
    tau = 2 * x[:, 0] - x[:, 1]
    y1 = y0 + tau + noise
    frame = pd.DataFrame(np.round(x, 4), columns=[f"x{i}" for i in range(1, 6)])
    frame["treated"] = t
    frame["y"] = np.round(np.where(t == 1, y1, y0), 4)
    frame["true_effect"] = np.round(tau, 4)
    return frame


def null_effect(n: int = 2000, *, seed: int = 0) -> pd.DataFrame:
    """Bleeding-trial covariates and baseline risk, but a drug that does nothing for anyone."""
    return bleeding_trial(n, seed=seed, effect_scale=0.0)


EXAMPLES = {
    "bleeding_trial": (
        lambda: bleeding_trial(2000, seed=123),
        {"outcome": "event", "treatment": "treatment", "treated_value": "Treatment", "id": "subject_id",
         "direction": "lower-is-better", "propensity": 0.5, "true_effect": "true_effect", "budget": "30%",
         "subgroup": ["age > 65", "anticoagulant == 'Yes'"]},
        "Randomised trial of an anticoagulant, 2,000 patients; outcome: a major bleeding event (bad).",
    ),
    "financial_literacy": (
        lambda: financial_literacy(5000, seed=7),
        {"outcome": "savings_rate_change", "treatment": "enrolled", "id": "person_id",
         "direction": "higher-is-better", "cost": "cost", "budget_total": 300000, "true_effect": "true_effect"},
        "Financial-literacy programme, 5,000 people (observational); outcome: change in savings rate (pp).",
    ),
    "cate_lesson": (
        lambda: cate_lesson(1000, seed=42),
        {"outcome": "y", "treatment": "treated", "direction": "higher-is-better", "budget": "50%",
         "true_effect": "true_effect"},
        "The CATE lesson's simulation: 1,000 people, five covariates, effect 2*x1 - x2.",
    ),
}
