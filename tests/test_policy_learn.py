"""Learning trees on prepared data: applying a tree bins only what it needs, and searches on the
same rows share one numeric binning without changing any tree."""

import numpy as np
import pytest

from targeting.config import merge_sources
from targeting.data.prepare import prepare
from targeting.policy import learn
from targeting.policy.binning import make_bins
from targeting.policy.learn import PolicySettings, learn_tree
from targeting.policy.tree import assign
from targeting.sim.simulate import EXAMPLES, bleeding_trial


def _prepare():
    settings = {k: v for k, v in EXAMPLES["bleeding_trial"][1].items() if k != "subgroup"}
    return prepare(bleeding_trial(600, seed=5), merge_sources(("test", settings)))


@pytest.fixture(scope="module")
def prepared():
    return _prepare()


def _scores(prepared, seed):
    return np.random.default_rng(seed).normal(0.05, 1, prepared.n)


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_applying_a_tree_equals_assigning_it_on_every_covariates_bins(prepared, depth):
    scores = _scores(prepared, depth)
    everyone = np.ones(prepared.n, dtype=bool)
    tree = learn_tree(prepared, scores, everyone, PolicySettings(0.3 * prepared.n, depth, 30, 16))
    bins, _, _ = make_bins(prepared.x_codes, prepared.covariates, scores, 16)
    treat, path = tree.apply(prepared.x_codes)
    expected_treat, expected_path = assign(tree.node, bins)
    assert np.array_equal(treat, expected_treat) and np.array_equal(path, expected_path)


def test_searches_on_everyone_share_one_numeric_binning_and_find_the_same_trees(prepared):
    everyone = np.ones(prepared.n, dtype=bool)
    settings = PolicySettings(0.3 * prepared.n, 2, 30, 16)
    learn._EVERYONE_BINNINGS.clear()
    first = learn_tree(prepared, _scores(prepared, 1), everyone, settings)
    shared = learn._numeric_binning(prepared, everyone, 16)
    second = learn_tree(prepared, -_scores(prepared, 1), everyone, settings)
    assert learn._numeric_binning(prepared, everyone, 16) is shared
    numeric = [j for j, c in enumerate(prepared.covariates) if c.kind == "numeric"]
    assert all(first.specs[j] is second.specs[j] is shared[0][j] for j in numeric)
    learn._EVERYONE_BINNINGS.clear()  # the same searches without the shared binning
    assert learn_tree(prepared, -_scores(prepared, 1), everyone, settings) == second
    # Another data set (even an equal one) never gets this one's binning.
    other = _prepare()
    assert learn._numeric_binning(other, everyone, 16) is not learn._numeric_binning(prepared, everyone, 16)
