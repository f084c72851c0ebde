"""YAHPO Gym tuning problems (Pfisterer et al. 2022, "YAHPO Gym - An Efficient Multi-Objective
Multi-Fidelity Benchmark for Hyperparameter Optimization", AutoML-Conf, arXiv:2109.03670).

Each scenario holds one ONNX surrogate of many real OpenML tuning tasks (one *instance* per
dataset): a prediction stands in for training the model, so a transfer benchmark over dozens
of datasets runs on a laptop. Two scenarios, each at its highest fidelity:

* ``lcbench``: an MLP by Auto-PyTorch on 34 datasets, 7 hyperparameters (batch size, learning
  rate, max dropout, max units, momentum, layers, weight decay), ``val_balanced_accuracy``
  after 52 epochs;
* ``rbv2_rpart``: a decision tree (rpart) on 117 datasets, 4 numeric hyperparameters and the
  imputation method (categorical), ``acc`` at ``trainsize`` 1 and ``repl`` 10.

Both metrics are maximized. Configurations live in an :class:`hbo.SearchSpace` built from
the scenario's ConfigSpace (log scales kept); "uniform random" means uniform in that
space's unit cube, which is log-uniform on log-scaled parameters, as ConfigSpace samples.

The data are the public ``slds-lmu/yahpo_data`` repository (Apache-2.0); a copy of the two
scenarios lies in ``../shared/yahpo_data`` of this project. Nothing is downloaded.

The surrogate is evaluated with ``onnxruntime`` as ``yahpo_gym.BenchmarkSet.objective_function``
does (``_config_to_xs``): the categorical inputs (dataset, then the scenario's own
categoricals) as the integer codes of ``encoding.json``, the numeric ones as they are
(float32), in the scenario's column order; the output's columns are its metrics. The
``yahpo-gym`` package itself requires ``numpy < 2`` and ``ConfigSpace <= 0.6.1``, which break
Ray Tune (pyarrow needs NumPy 2), so hbo does not depend on it;
``tests/experiments/test_yahpo_benchmark.py`` checks this reader against outputs of
yahpo-gym 1.0.2.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "yahpo_data"
GET_DATA = (
    "clone the public YAHPO Gym data repository (git clone "
    "https://github.com/slds-lmu/yahpo_data) and pass its folder"
)


@dataclass(frozen=True)
class Scenario:
    """A YAHPO scenario: the surrogate's input columns (yahpo-gym's ``cat_names`` and
    ``cont_names``) and outputs (``y_names``), the metric, the fidelity it is read at, and
    the column that names the dataset."""

    name: str
    metric: str
    instance_key: str
    fidelity: tuple[tuple[str, float], ...]
    cat_names: tuple[str, ...]
    cont_names: tuple[str, ...]
    y_names: tuple[str, ...]


SCENARIOS = {
    "lcbench": Scenario(
        "lcbench", "val_balanced_accuracy", "OpenML_task_id", (("epoch", 52),),
        cat_names=("OpenML_task_id",),
        cont_names=("epoch", "batch_size", "learning_rate", "momentum", "weight_decay",
                    "num_layers", "max_units", "max_dropout"),
        y_names=("time", "val_accuracy", "val_cross_entropy", "val_balanced_accuracy",
                 "test_cross_entropy", "test_balanced_accuracy"),
    ),
    "rbv2_rpart": Scenario(
        "rbv2_rpart", "acc", "task_id", (("trainsize", 1.0), ("repl", 10)),
        cat_names=("task_id", "num.impute.selected.cpo"),
        cont_names=("cp", "maxdepth", "minbucket", "minsplit", "trainsize", "repl"),
        y_names=("acc", "bac", "auc", "brier", "f1", "logloss", "timetrain", "timepredict",
                 "memory"),
    ),
}


def check_data_dir(data_dir: Path | str | None) -> Path:
    """The YAHPO data folder (default ``../shared/yahpo_data``), or a clear error."""
    path = Path(data_dir) if data_dir is not None else DEFAULT_DATA
    files = ("model.onnx", "encoding.json", "config_space.json")
    missing = [s for s in SCENARIOS if not all((path / s / f).is_file() for f in files)]
    if missing:
        raise FileNotFoundError(
            f"YAHPO data folder {path} lacks the scenario(s) {missing} (each needs "
            f"<folder>/<scenario>/{{{', '.join(files)}}}): {GET_DATA}"
        )
    return path


class YahpoProblem:
    """One YAHPO scenario: its search space, its datasets and the surrogate objective.

    Args:
        scenario: ``"lcbench"`` or ``"rbv2_rpart"``.
        data_dir: Folder holding ``<scenario>/model.onnx`` (default ``../shared/yahpo_data``).
    """

    def __init__(self, scenario: str, data_dir: Path | str | None = None) -> None:
        if scenario not in SCENARIOS:
            raise ValueError(f"scenario must be one of {sorted(SCENARIOS)}, got {scenario!r}")
        self.scenario = SCENARIOS[scenario]
        self.data_dir = check_data_dir(data_dir)

    @cached_property
    def _session(self):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        path = self.data_dir / self.scenario.name / "model.onnx"
        return onnxruntime.InferenceSession(str(path), options,
                                            providers=["CPUExecutionProvider"])

    @cached_property
    def _encoding(self) -> dict[str, dict[str, int]]:
        return json.loads((self.data_dir / self.scenario.name / "encoding.json").read_text())

    @cached_property
    def _config_space(self) -> list[dict]:
        path = self.data_dir / self.scenario.name / "config_space.json"
        return json.loads(path.read_text())["hyperparameters"]

    @property
    def instances(self) -> list[str]:
        """The datasets (OpenML task ids as strings), in the scenario's own order."""
        key = self.scenario.instance_key
        return [str(c) for h in self._config_space if h["name"] == key for c in h["choices"]]

    @cached_property
    def space(self):
        """The tunable hyperparameters as an :class:`hbo.SearchSpace` (no dataset, no
        fidelity)."""
        import hbo

        skip = {self.scenario.instance_key, *dict(self.scenario.fidelity)}
        params = []
        for h in self._config_space:
            if h["name"] in skip:
                continue
            if h["type"] == "categorical":
                params.append(hbo.Categorical(h["name"], h["choices"]))
            elif h["type"] == "uniform_int":
                params.append(hbo.Int(h["name"], int(h["lower"]), int(h["upper"]), log=h["log"]))
            elif h["type"] == "uniform_float":
                params.append(hbo.Float(h["name"], h["lower"], h["upper"], log=h["log"]))
            else:
                raise ValueError(f"{self.scenario.name}: unsupported hyperparameter {h}")
        return hbo.SearchSpace(params)

    def evaluate(self, instance: str, params: list[dict]) -> np.ndarray:
        """The metric (to maximize) of each configuration on dataset ``instance``: shape ``n``."""
        if instance not in self.instances:
            raise ValueError(f"{self.scenario.name} has no dataset {instance!r}")
        rows = [{**p, self.scenario.instance_key: instance, **dict(self.scenario.fidelity)}
                for p in params]
        x_cat = np.array([[self._encoding[c][str(r[c])] for c in self.scenario.cat_names]
                          for r in rows], dtype=np.int32)
        x_cont = np.array([[r[c] for c in self.scenario.cont_names] for r in rows],
                          dtype=np.float32)
        out = self._session.run(None, {"x_cat": x_cat, "x_cont": x_cont})[0]
        return out[:, self.scenario.y_names.index(self.scenario.metric)].astype(float)

    def random_params(self, n: int, rng: np.random.Generator) -> list[dict]:
        """``n`` configurations uniform in the space's unit cube (categories uniform)."""
        U = torch.from_numpy(rng.random((n, self.space.dim)))
        for i, k in self.space.categorical_dims().items():
            U[:, i] = torch.clamp(torch.floor(U[:, i] * k), max=k - 1)
        return self.space.decode(U)
