"""Calibration of NormalHierarchy: posterior intervals cover the truth at their nominal rate.

If (mu, tau) are drawn from the prior that is fitted, theta ~ N(mu, tau^2) and
y ~ N(theta, sigma^2), then for an exact posterior every central interval of probability p
covers the truth with probability exactly p, averaged over the prior (Cook, Gelman & Rubin
2006, doi:10.1198/106186006X136976). An error in p(tau | y), in the conditionals or in the
quantiles breaks this.
"""

import numpy as np
import pytest

from hbo.hierarchy import NormalHierarchy

SIGMA = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])  # Eight Schools' errors
PRIOR_LOC, PRIOR_SCALE, TAU_SCALE = 0.0, 5.0, 5.0
REPLICATIONS = 300


@pytest.mark.slow
def test_interval_coverage_matches_nominal(rng):
    """300 data sets from mu ~ N(0, 5^2), tau ~ Half-Normal(5), fitted with that prior.

    Coverage of mu and of tau is Binomial(300, p) / 300 under exact calibration: sd
    sqrt(p (1 - p) / 300) = 0.0126 for p = 0.95 and 0.0289 for p = 0.5; we allow 3.5 sd
    (two-sided 5e-4 each). For theta the 8 indicators of one data set are dependent, so we
    use the bound for perfectly correlated ones (the same sd as for mu), which can only be
    conservative."""
    hits = {name: {0.5: [], 0.95: []} for name in ("mu", "tau", "theta")}
    probs = (0.025, 0.25, 0.75, 0.975)
    for _ in range(REPLICATIONS):
        mu = rng.normal(PRIOR_LOC, PRIOR_SCALE)
        tau = abs(rng.normal(0.0, TAU_SCALE))
        theta = rng.normal(mu, tau, len(SIGMA))
        y = rng.normal(theta, SIGMA)
        table = NormalHierarchy(y, SIGMA, mu_prior=(PRIOR_LOC, PRIOR_SCALE),
                                tau_prior="half_normal", tau_scale=TAU_SCALE).fit()\
            .summary(probs=probs)
        q = table[["2.5%", "25%", "75%", "97.5%"]].to_numpy()
        truth = np.concatenate([[mu, tau], theta])
        inside_95 = (q[:, 0] <= truth) & (truth <= q[:, 3])
        inside_50 = (q[:, 1] <= truth) & (truth <= q[:, 2])
        for name, rows in (("mu", [0]), ("tau", [1]), ("theta", slice(2, None))):
            hits[name][0.95].append(inside_95[rows].mean())
            hits[name][0.5].append(inside_50[rows].mean())
    for name, by_prob in hits.items():
        for p, values in by_prob.items():
            coverage = float(np.mean(values))
            bound = 3.5 * np.sqrt(p * (1 - p) / REPLICATIONS)
            assert abs(coverage - p) < bound, (name, p, coverage, bound)
