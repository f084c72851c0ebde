"""The ``hbo`` command: a short demo run end to end, and errors as one line."""

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
