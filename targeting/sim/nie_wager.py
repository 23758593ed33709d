"""The four simulation setups of Nie and Wager, "Quasi-oracle estimation of heterogeneous treatment
effects" (Biometrika 2021, section 6), with known individual effects.

Written here from the published formulas rather than taken from ``causalml.dataset`` (which holds
the same four setups as ``simulate_*``): importing that module loads causalml's whole estimator
stack (XGBoost and a GPU communication library among its requirements), which the project does
not otherwise need. The formulas are the paper's (and causalml's, checked against its source);
the random draws differ, since these use a seeded ``numpy.random.Generator``.

Every setup draws ``p`` covariates, a propensity ``e(x)``, a baseline ``b(x)`` and an effect
``tau(x)``, then ``y = b(x) + (t - 1/2) tau(x) + sigma * noise`` with ``t ~ Bernoulli(e(x))``.

- A: difficult nuisances, easy effect: ``x ~ U[0, 1]^p``, ``e = trim_0.1(sin(pi x1 x2))``,
  ``b = sin(pi x1 x2) + 2 (x3 - 1/2)^2 + x4 + x5 / 2``, ``tau = (x1 + x2) / 2``.
- B: a randomised trial: ``x ~ N(0, I)``, ``e = 1/2``, ``b = max(x1 + x2, x3, 0) + max(x4 + x5, 0)``,
  ``tau = x1 + log(1 + exp(x2))``.
- C: easy propensity, difficult baseline, constant effect: ``x ~ N(0, I)``,
  ``e = 1 / (1 + exp(x2 + x3))``, ``b = 2 log(1 + exp(x1 + x2 + x3))``, ``tau = 1``.
- D: unrelated arms: ``x ~ N(0, I)``, ``e = 1 / (1 + exp(-x1) + exp(-x2))``,
  ``b = (max(x1 + x2 + x3, 0) + max(x4 + x5, 0)) / 2``, ``tau = max(x1 + x2 + x3, 0) - max(x4 + x5, 0)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SETUPS = ("A", "B", "C", "D")
# Smallest number of covariates every setup's formulas use.
MIN_COVARIATES = 5
# Setup A's propensity is trimmed to [ETA, 1 - ETA].
ETA = 0.1


def _setup_a(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    wave = np.sin(np.pi * x[:, 0] * x[:, 1])
    baseline = wave + 2 * (x[:, 2] - 0.5) ** 2 + x[:, 3] + 0.5 * x[:, 4]
    return np.clip(wave, ETA, 1 - ETA), baseline, (x[:, 0] + x[:, 1]) / 2


def _setup_b(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    baseline = np.maximum.reduce([x[:, 0] + x[:, 1], x[:, 2], np.zeros(len(x))]) + np.maximum(x[:, 3] + x[:, 4], 0)
    return np.full(len(x), 0.5), baseline, x[:, 0] + np.log1p(np.exp(x[:, 1]))


def _setup_c(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    baseline = 2 * np.log1p(np.exp(x[:, 0] + x[:, 1] + x[:, 2]))
    return 1 / (1 + np.exp(x[:, 1] + x[:, 2])), baseline, np.ones(len(x))


def _setup_d(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    first, second = np.maximum(x[:, 0] + x[:, 1] + x[:, 2], 0), np.maximum(x[:, 3] + x[:, 4], 0)
    return 1 / (1 + np.exp(-x[:, 0]) + np.exp(-x[:, 1])), (first + second) / 2, first - second


_FORMULAS = {"A": _setup_a, "B": _setup_b, "C": _setup_c, "D": _setup_d}


def nie_wager(setup: str, n: int = 2000, *, p: int = 6, sigma: float = 1.0, seed: int = 0) -> pd.DataFrame:
    """Simulate one of Nie and Wager's setups A-D.

    Parameters
    ----------
    setup : {"A", "B", "C", "D"}
    n : int
        Number of people.
    p : int
        Number of covariates (at least 5; the paper uses 6 and 12). Those beyond the first five are noise.
    sigma : float
        Standard deviation of the outcome noise (the paper uses 0.5 to 4).
    seed : int

    Returns
    -------
    DataFrame
        ``x1 .. xp, treated, y, true_effect``.
    """
    if setup not in _FORMULAS:
        raise ValueError(f"Unknown Nie-Wager setup {setup!r}; choose one of {', '.join(SETUPS)}.")
    if p < MIN_COVARIATES:
        raise ValueError(f"The Nie-Wager setups need at least {MIN_COVARIATES} covariates; got p = {p}.")
    rng = np.random.default_rng(seed)
    x = rng.random((n, p)) if setup == "A" else rng.standard_normal((n, p))
    propensity, baseline, tau = _FORMULAS[setup](x)
    treated = rng.binomial(1, propensity)
    y = baseline + (treated - 0.5) * tau + sigma * rng.standard_normal(n)
    frame = pd.DataFrame(x, columns=[f"x{j}" for j in range(1, p + 1)])
    frame["treated"] = treated
    frame["y"] = y
    frame["true_effect"] = tau
    return frame
