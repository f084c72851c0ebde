"""Why shuffled history hurts hbo on YAHPO Gym: the measurements behind the diagnosis.

``yahpo_benchmark.py``'s arm ``hbo_permuted`` gives hbo each source's evaluations with the
values shuffled among its configurations (inputs kept, relation destroyed). After 30
evaluations its regret was 2.3 times that of hbo without history (16 lcbench targets, one
seed), against a goal of 1.2. This script measures, on a few targets with 5 sources x 50
random evaluations (the benchmark's ``5x50`` history, seed 0), the three steps of the
failure:

1. **Each shuffled source, fitted alone, looks like a function.** Its MAP GP (hbo's
   single-task model: BoTorch's priors, Matern-5/2, ARD) puts short lengthscales on a few
   inputs and almost no noise; its log marginal likelihood beats the pure-noise model
   (a constant plus white noise, the truth) and its closed-form leave-one-out density
   beats the constant's. ARD type-II maximum likelihood overfits 50 points of noise.
2. **Pooling turns the sources' overfits into one confident population.** Fitted
   together (with the target's points), the sources share their short lengthscales, the
   spread ``tau`` of the log lengthscales is small, and the target, even with 30 points
   of its own, takes the population's short lengthscales instead of the long ones its own
   data give alone: the pull of the prior on its ``z`` outweighs its likelihood.
3. **The target's leave-one-out cannot tell this early.** Comparing the target's
   leave-one-out density under the pooled model and under the target-alone GP is how
   :mod:`hbo.surrogate.shared_choice` decides about the shared function. For the target-alone
   GP the closed form (hyperparameters fitted with the held-out point) is optimistic by
   several nats on 10 points; exact leave-one-out (refitted without each point) is not.

    python experiments/negative_transfer_diagnosis.py [--data PATH] [--targets 3]

Writes ``results/negative_transfer_diagnosis.md``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, os.fspath(Path(__file__).resolve().parent))

import yahpo_benchmark as yb  # noqa: E402
from yahpo_problems import check_data_dir  # noqa: E402

from hbo.surrogate import HierarchicalGP  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SETTING, SEED = "5x50", 0


def gaussian_log_density(y: np.ndarray, mean: np.ndarray, var: np.ndarray) -> float:
    return float(np.sum(-0.5 * (y - mean) ** 2 / var - 0.5 * np.log(2 * math.pi * var)))


def constant_loo(y: np.ndarray) -> float:
    """Leave-one-out log density of a constant plus white noise (mean and sd of the rest)."""
    rest = np.array([np.delete(y, i) for i in range(len(y))])
    return gaussian_log_density(y, rest.mean(1), rest.var(1, ddof=1))


def fit(X: torch.Tensor, Y: torch.Tensor, labels: torch.Tensor, cat: dict, **kw) -> HierarchicalGP:
    return HierarchicalGP(torch.cat([X, labels[:, None]], -1), Y[:, None],
                          categorical_dims=cat, **kw).fit()


def alone(X: torch.Tensor, Y: torch.Tensor, cat: dict, **kw) -> HierarchicalGP:
    return fit(X, Y, torch.zeros(len(Y), dtype=torch.double), cat, **kw)


def source_overfit(X: torch.Tensor, Y: torch.Tensor, cat: dict) -> tuple[float, float, float]:
    """(log ML gain over pure noise, closed-form LOO gain over a constant, shortest ell)."""
    model = alone(X, Y, cat)
    y = model._y.numpy()
    noise_only = gaussian_log_density(y, np.full_like(y, y.mean()), np.full_like(y, y.var()))
    ell = model.log_hyperparameters()["lengthscale"][0].exp()
    return (float(model.log_likelihood()) - noise_only,
            float(model.loo_log_density(0)) - constant_loo(y), float(ell.min()))


def exact_loo(X: torch.Tensor, Y: torch.Tensor, cat: dict) -> float:
    """Leave-one-out log density of the target-alone GP, refitted without each point, in the
    units of the fit to all points."""
    full = alone(X, Y, cat)
    mean, std = full._y_mean[0], full._y_std[0]
    y = (Y - mean) / std
    total = 0.0
    for i in range(len(Y)):
        keep = torch.arange(len(Y)) != i
        model = alone(X[keep], y[keep], cat, standardize=False)
        zero = torch.zeros(1, 1, dtype=torch.double)
        post = model.posterior(torch.cat([X[i : i + 1], zero], -1))
        total += gaussian_log_density(y[i].numpy(), post.mean.detach().numpy().ravel(),
                                      post.variance.detach().numpy().ravel())
    return total


def geometric_mean(ell: torch.Tensor) -> str:
    return f"{float(ell.log().mean().exp()):.2f} (min {float(ell.min()):.2f})"


def diagnose(scenario: str, target: str, data: str) -> list[str]:
    p = yb.problem(scenario, data)
    cat = p.space.categorical_dims()
    hist = yb.history(scenario, data, SETTING, target, SEED)
    shuffled = yb.permuted(hist, SEED)
    rng = np.random.default_rng(1)
    params = p.random_params(30, rng)
    Xt = p.space.encode(params)
    Yt = torch.tensor(p.evaluate(target, params), dtype=torch.double)
    lines = [f"### {scenario} {target}", ""]

    rows = []
    for kind, h in (("true", hist), ("shuffled", shuffled)):
        for values in [source_overfit(p.space.encode(pa), torch.tensor(va, dtype=torch.double),
                                      cat) for pa, va in h.values()]:
            rows.append((kind, *values))
    lines += ["Step 1, each source fitted alone (per source: log ML gain over pure noise, "
              "closed-form LOO gain over a constant, shortest lengthscale):", "",
              "| history | log ML - noise | LOO - constant | min ell |", "|---|---|---|---|"]
    lines += [f"| {k} | {a:.1f} | {b:.1f} | {c:.3f} |" for k, a, b, c in rows]

    lines += ["", "Step 2, the target's lengthscales (geometric mean, shortest) and tau of "
              "the log lengthscales:", "",
              "| target points | history | pooled target ell | tau | target alone ell |",
              "|---|---|---|---|---|"]
    for n in (10, 30):
        own = alone(Xt[:n], Yt[:n], cat).log_hyperparameters()["lengthscale"][0].exp()
        for kind, h in (("true", hist), ("shuffled", shuffled)):
            X = torch.cat([Xt[:n], *[p.space.encode(pa) for pa, _ in h.values()]])
            Y = torch.cat([Yt[:n], *[torch.tensor(va, dtype=torch.double) for _, va in h.values()]])
            labels = torch.cat([torch.zeros(n), *[torch.full((len(va),), i + 1.0) for i, (_, va)
                                                  in enumerate(h.values())]]).double()
            model = fit(X, Y, labels, cat, shared_function=False)
            ell = model.log_hyperparameters()["lengthscale"][0].detach().exp()
            lines.append(f"| {n} | {kind} | {geometric_mean(ell)} | "
                         f"{float(model.tau('lengthscale')):.2f} | {geometric_mean(own)} |")

    lines += ["", "Step 3, the target-alone GP's leave-one-out log density on its first 10 "
              "points:", ""]
    closed = float(alone(Xt[:10], Yt[:10], cat).loo_log_density(0))
    lines += [f"closed form {closed:.2f}, exact (refitted) {exact_loo(Xt[:10], Yt[:10], cat):.2f}",
              ""]
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="YAHPO data folder (../shared/yahpo_data)")
    parser.add_argument("--targets", type=int, default=2, help="targets per scenario")
    args = parser.parse_args(argv)
    data = os.fspath(check_data_dir(args.data))
    warnings.filterwarnings("ignore")
    lines = ["# Why shuffled history hurts: measurements", "",
             f"`python experiments/negative_transfer_diagnosis.py --targets {args.targets}` "
             f"({SETTING} history, seed {SEED}, 30 uniformly random target points; the model "
             "without the shared function, whose pooling of hyperparameters is the channel "
             "measured here).", ""]
    for scenario in ("lcbench", "rbv2_rpart"):
        for target in yb.targets(scenario, data, args.targets):
            section = diagnose(scenario, target, data)
            print("\n".join(section), flush=True)
            lines += section
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "negative_transfer_diagnosis.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
