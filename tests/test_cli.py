"""The ``hbo`` command: a short demo run end to end, and errors as one line."""

import pandas as pd
import pytest

from hbo import cli, demo


def test_demo_runs_end_to_end_and_writes_the_png(tmp_path, capsys):
    out = tmp_path / "curves.png"
    assert cli.main(["demo", "--budget", "3", "--history", "6", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Best 3-fold CV error after each target evaluation" in printed
    assert "Pooling across 4 task(s) (target: digits)" in printed
    assert out.stat().st_size > 10_000 and out.read_bytes()[:4] == b"\x89PNG"


def test_demo_curves_are_best_so_far_and_history_is_stored():
    result = demo.run_demo(budget=3, n_history=6, seed=1, log=lambda _: None)
    curves = result.curves
    assert list(curves.columns) == ["with history", "without history"] and len(curves) == 3
    assert (curves.diff().dropna() <= 0).all().all()  # best-so-far never gets worse
    frame = result.study.trials_dataframe()
    assert frame["task"].value_counts().to_dict() == {
        "breast_cancer": 6, "wine": 6, "iris": 6, "digits": 3,
    }
    # an SVM on digits does far better than chance (90 % error for 10 classes)
    assert curves.iloc[-1].max() < 0.5


def test_bad_arguments_exit_with_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["demo", "--budget", "0"])
    assert exc.value.code == 2
    assert "must be a positive integer" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["no-such-command"])


# ---------------------------------------------------------------------- study commands
COMMANDS = ["demo", "studies", "show", "plot", "export", "import", "summarize", "meta"]
EIGHT_SCHOOLS = {  # BDA3 Table 5.2
    "estimate": [28, 8, -3, 7, -1, 1, 18, 12],
    "se": [15, 10, 16, 11, 9, 11, 10, 18],
}


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A SQLite study: 8 history points on 'source', 7 told and 1 running on 'target'."""
    import hbo

    url = f"sqlite:///{tmp_path_factory.mktemp('cli') / 'tuning.db'}"
    space = hbo.SearchSpace([hbo.Float("x", 0.0, 1.0), hbo.Int("k", 0, 3)])
    study = hbo.Study(space, task="target", seed=0, storage=url, name="s1", n_initial=100)

    def f(p, shift):
        return (p["x"] - 0.3 - shift) ** 2 + 0.1 * p["k"]

    X = space.decode(space.sobol(8, seed=3))
    study.add_history("source", X, [f(p, 0.1) for p in X])
    for _ in range(7):
        trial = study.ask()
        study.tell(trial, f(trial.params, 0.0))
    study.ask()
    study.storage.close()
    return url, study


def run(argv, capsys):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main([command, "--help"])
    assert exc.value.code == 0 and f"usage: hbo {command}" in capsys.readouterr().out


def test_studies_and_show(stored, capsys):
    url, study = stored
    code, out, _ = run(["studies", "--storage", url], capsys)
    # name, task, direction, then trials running, complete, failed, waiting
    assert code == 0
    assert out.split("\n")[1].split() == ["s1", "target", "minimize", "1", "15", "0", "0"]
    code, out, _ = run(["show", "s1", "--storage", url, "--no-pooling"], capsys)
    assert code == 0 and "16 trials" in out
    best = study.best
    assert f"best on 'target': trial {best.id}, value {best.value:.6g}" in out
    assert out.count(" running ") == 1 and out.count(" history ") == 8


def test_studies_and_show_a_study_of_several_objectives(tmp_path, capsys):
    import hbo

    url = f"sqlite:///{tmp_path / 'moo.db'}"
    space = hbo.SearchSpace([hbo.Float("x", 0.0, 1.0)])
    study = hbo.Study(space, task="t", objectives={"loss": "minimize", "acc": "maximize"},
                      constraints=["mem <= 1"], storage=url, name="moo")
    for x, loss, acc, mem in [(0.1, 1.0, 0.5, 0.5), (0.2, 2.0, 0.9, 0.5), (0.3, 0.1, 1.0, 2.0)]:
        study.enqueue({"x": x})
        study.tell(study.ask(), {"loss": loss, "acc": acc, "mem": mem})
    study.storage.close()
    code, out, _ = run(["studies", "--storage", url], capsys)
    assert code == 0
    assert out.split("\n")[1].split()[:3] == ["moo", "t", "loss:minimize,acc:maximize"]
    code, out, _ = run(["show", "moo", "--storage", url, "--no-pooling"], capsys)
    assert code == 0 and "Pareto front on 't' (feasible, non-dominated): trials [0, 1]" in out
    assert "values_mem" in out
    code, out, _ = run(["plot", "moo", "--storage", url, "-o", str(tmp_path / "moo.png")], capsys)
    assert code == 0 and (tmp_path / "moo.png").read_bytes()[:4] == b"\x89PNG"


def test_plot_draws_best_so_far_and_pooling(stored, tmp_path, capsys):
    from hbo.study import plots as study_plots

    url, study = stored
    png = tmp_path / "s1.png"
    code, out, err = run(["plot", "s1", "--storage", url, "-o", str(png)], capsys)
    assert code == 0 and png.read_bytes()[:4] == b"\x89PNG"
    assert "fitting the surrogate to 15 completed trials" in err  # progress on stderr
    fig = study_plots.study_figure(study)
    lines = {line.get_label(): line.get_ydata() for line in fig.axes[0].get_lines()}
    values = study.trials_dataframe().query("task == 'target' and state == 'complete'")["value"]
    assert list(lines["target (target)"]) == list(values.cummin())


def test_plot_writes_the_format_its_suffix_names(stored, tmp_path, capsys):
    url, _ = stored
    for suffix, magic in [(".jpg", b"\xff\xd8\xff"), (".pdf", b"%PDF")]:
        path = tmp_path / f"s1{suffix}"
        argv = ["plot", "s1", "--storage", url, "-o", str(path), "--no-pooling"]
        code, out, _ = run(argv, capsys)
        assert code == 0 and path.read_bytes().startswith(magic) and f"wrote {path}" in out


def test_export_import_round_trip(stored, tmp_path, capsys):
    url, study = stored
    path = tmp_path / "s1.json"
    assert run(["export", "s1", "--storage", url, "-o", str(path)], capsys)[0] == 0
    copy = f"sqlite:///{tmp_path / 'copy.db'}"
    code, out, _ = run(["import", str(path), "--storage", copy, "--name", "c"], capsys)
    assert code == 0 and "stored study 'c' (16 trials)" in out
    import hbo

    assert hbo.Study.load("c", copy).storage.get_trials() == study.storage.get_trials()


def test_import_of_a_bad_file_stores_no_study(stored, tmp_path, capsys):
    import json

    url, _ = stored
    path = tmp_path / "f.json"
    assert run(["export", "s1", "--storage", url, "-o", str(path)], capsys)[0] == 0
    data = json.loads(path.read_text())
    data["trials"][3]["params"]["x"] = 2.0  # outside [0, 1]
    path.write_text(json.dumps(data))
    target = f"sqlite:///{tmp_path / 'b.db'}"
    run(["export", "s1", "--storage", url, "-o", str(tmp_path / "good.json")], capsys)
    run(["import", str(tmp_path / "good.json"), "--storage", target, "--name", "good"], capsys)
    code, _, err = run(["import", str(path), "--storage", target, "--name", "f"], capsys)
    assert code == 2 and "trial 3: params: parameter 'x' = 2.0 is outside [0.0, 1.0]" in err
    code, out, _ = run(["studies", "--storage", target], capsys)
    assert code == 0 and [line.split()[0] for line in out.splitlines()[1:]] == ["good"]


def test_import_adds_history_from_optuna_hbo_and_csv(tmp_path, capsys):
    import optuna

    import hbo

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url, optuna_url = f"sqlite:///{tmp_path / 't.db'}", f"sqlite:///{tmp_path / 'o.db'}"
    space = hbo.SearchSpace([hbo.Float("x", 0.0, 1.0), hbo.Int("k", 1, 4)])
    hbo.Study(space, task="now", seed=0, storage=url, name="tgt")  # minimize
    past = optuna.create_study(study_name="past", direction="maximize", storage=optuna_url,
                               sampler=optuna.samplers.RandomSampler(seed=0))
    past.optimize(lambda t: t.suggest_float("x", 0.0, 2.0) + t.suggest_int("k", 1, 4), 6)
    kept = [t for t in past.trials if t.params["x"] <= 1.0]
    assert 0 < len(kept) < 6
    argv = ["import", "--storage", url, "--study", "tgt"]
    code, out, err = run([*argv, "--from-optuna", f"past@{optuna_url}"], capsys)
    assert code == 0 and err == ""
    assert out.splitlines() == [
        "imported into study 'tgt' (target task 'now', minimize):",
        f"  task 'past': {len(kept)} trials usable; {6 - len(kept)} trials skipped "
        f"({6 - len(kept)} with 'x' outside the space)",
    ]
    source = hbo.Study(space, task="a", direction="maximize", storage=url, name="src")
    source.add_history("b", [{"x": 0.5, "k": 2}], [7.0])
    code, out, _ = run([*argv, "--from-hbo", "src"], capsys)  # the same database
    assert code == 0 and out.splitlines()[1:] == ["  task 'b': 1 trial usable"]
    csv = tmp_path / "past.csv"
    past.trials_dataframe().to_csv(csv, index=False)
    code, out, _ = run([*argv, "--from-csv", str(csv), "--task", "csv",
                        "--source-direction", "maximize"], capsys)
    assert code == 0 and f"  task 'csv': {len(kept)} trials usable" in out
    stored = hbo.Study.load("tgt", url).trials_dataframe()
    assert stored.groupby("task", sort=False).size().to_dict() == {
        "past": len(kept), "b": 1, "csv": len(kept)}
    assert stored.query("task == 'past'")["value"].tolist() == [-t.value for t in kept]
    assert stored.query("task == 'csv'")["value"].tolist() == [-t.value for t in kept]
    assert stored.query("task == 'b'")["value"].tolist() == [-7.0]


def test_summarize_takes_a_tau_prior_for_few_groups(tmp_path, capsys):
    from hbo.hierarchy import NormalHierarchy

    path = tmp_path / "two.csv"
    pd.DataFrame({"estimate": [28, 8], "se": [15, 10]}).to_csv(path, index=False)
    code, _, err = run(["summarize", str(path)], capsys)  # flat prior on tau: improper
    assert code == 2 and "is improper" in err and "Set --tau-prior NAME[:SCALE]" in err
    code, out, _ = run(["summarize", str(path), "--tau-prior", "half-normal:10"], capsys)
    expected = NormalHierarchy([28, 8], [15, 10], tau_prior="half_normal", tau_scale=10.0)
    table = expected.fit().summary().to_string(float_format=lambda v: f"{v:.3f}")
    assert code == 0 and "half-normal:10 prior on tau" in out and table in out


def test_summarize_prints_the_exact_posterior(tmp_path, capsys):
    from hbo.hierarchy import NormalHierarchy

    path = tmp_path / "y.csv"
    pd.DataFrame(EIGHT_SCHOOLS).to_csv(path, index=False)
    code, out, _ = run(["summarize", str(path)], capsys)
    expected = NormalHierarchy(EIGHT_SCHOOLS["estimate"], EIGHT_SCHOOLS["se"]).fit().summary()
    assert code == 0 and expected.to_string(float_format=lambda v: f"{v:.3f}") in out
    # BDA3 Table 5.3: posterior median of theta_A is 10 (from 200 draws: +-1 covers its
    # Monte Carlo error, sd 8.3 / sqrt(200) * 1.25 ~ 0.7)
    assert abs(expected.loc["theta[1]", "50%"] - 10) < 1


def test_meta_reproduces_metafor_bcg(tmp_path, capsys):
    from hbo.meta import datasets, effect_sizes

    d = datasets.bcg()
    es = effect_sizes.log_risk_ratio(d.tpos, d.tneg, d.cpos, d.cneg)
    path = tmp_path / "bcg.csv"
    pd.DataFrame({"study": d.author, "yi": es.yi, "vi": es.vi}).to_csv(path, index=False)
    code, out, _ = run(["meta", str(path), "--method", "REML"], capsys)
    # metafor docs/reference/rma.uni.html, print of rma(yi, vi, data=dat) on dat.bcg
    assert code == 0 and "tau^2 (estimated amount of total heterogeneity): 0.3132" in out
    assert "-0.7145" in out and "0.1798" in out
    pd.DataFrame({"yi": es.yi, "sei": es.vi**0.5}).to_csv(path, index=False)
    assert run(["meta", str(path), "--method", "DL"], capsys)[1].count("tau^2 estimator: DL") == 1


@pytest.mark.parametrize(
    "argv, message",
    [
        (["studies", "--storage", "sqlite:////nonexistent/dir/x.db"], "no database file"),
        (["show", "nope", "--storage", "STORED"], "no study named 'nope'"),
        (["studies", "--storage", "not a url"], "not a database URL"),
        (["export", "s1", "--storage", "STORED", "-o", "x.txt"], "give a .json or .csv"),
        (["summarize", "missing.csv"], "No such file"),
        (["summarize", "BAD"], "needs columns se"),
        (["summarize", "Y", "--tau-prior", "gamma:1"], "unknown prior 'gamma'"),
        (["summarize", "Y", "--tau-prior", "half-cauchy:x"], "'x' is not a number"),
        (["summarize", "Y", "--tau-prior", "half-cauchy"], "needs tau_scale"),
        (["plot", "s1", "--storage", "STORED", "-o", "NODIR"], "does not exist"),
        (["plot", "s1", "--storage", "STORED", "-o", "TXT"], "ending in an image format"),
        (["meta", "BAD", "--method", "XYZ"], "method"),
        (["meta", "TEXT"], "column 'yi' is not a number on lines [3]"),
        (["import", "--storage", "STORED"], "give FILE.json (a whole study) or one of"),
        (["import", "Y", "--storage", "STORED", "--from-hbo", "s1"], ", not both"),
        (["import", "Y", "--storage", "STORED", "--study", "s1"], "go with --from-"),
        (["import", "--storage", "STORED", "--from-hbo", "s1"], "name it with --study NAME"),
        (["import", "--storage", "STORED", "--study", "nope", "--from-hbo", "s1"],
         "no study named 'nope'"),
        (["import", "--storage", "STORED", "--study", "nope", "--from-hbo", "s1"],
         "adds history to an existing study: create it first"),
        (["import", "--storage", "STORED", "--study", "s1", "--from-csv", "Y"], "give --task"),
        (["import", "--storage", "STORED", "--study", "s1", "--from-hbo", "s1",
          "--source-direction", "maximize"], "--source-direction goes with --from-csv"),
        (["import", "--storage", "STORED", "--study", "s1", "--from-hbo", "s1"],
         "--from-hbo s1: that is --study itself"),
        (["import", "--storage", "STORED", "--study", "s1", "--from-optuna", "s1"],
         "no Optuna study named 's1'"),
        (["import", "--storage", "STORED", "--study", "s1", "--from-csv", "Y", "--task", "t"],
         "the DataFrame needs a 'value' column"),
    ],
)
def test_bad_input_is_one_line_and_exit_status_2(argv, message, stored, tmp_path, capsys):
    (tmp_path / "bad.csv").write_text("estimate,yi,vi\n1,2,3\n4,5,6\n")
    (tmp_path / "text.csv").write_text("yi,vi\n1,2\nabc,3\n")
    pd.DataFrame(EIGHT_SCHOOLS).to_csv(tmp_path / "y.csv", index=False)
    subst = {"STORED": stored[0], "BAD": str(tmp_path / "bad.csv"),
             "TEXT": str(tmp_path / "text.csv"), "NODIR": str(tmp_path / "no" / "x.png"),
             "TXT": str(tmp_path / "x.txt"), "Y": str(tmp_path / "y.csv")}
    code, out, err = run([subst.get(a, a) for a in argv], capsys)
    assert code == 2 and message in err
    assert err.count("\n") == 1 and err.startswith(f"hbo {argv[0]}: error: ")


def test_an_unexpected_error_is_status_1_with_traceback(monkeypatch, capsys):
    def broken(args):
        raise ZeroDivisionError("bug")

    monkeypatch.setitem(cli.HANDLERS, "summarize", broken)
    code, _, err = run(["summarize", "y.csv"], capsys)
    assert code == 1 and "Traceback" in err and "unexpected error" in err
