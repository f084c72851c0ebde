"""Front ends for tools tuners already use: Ax (:mod:`hbo.integrations.ax`), Ray Tune
(:mod:`hbo.integrations.ray`) and Optuna (:mod:`hbo.integrations.optuna`). Each needs its
extra (``hbo[ax]``, ``hbo[ray]``, ``hbo[optuna]``) and is imported explicitly, so
``import hbo`` never imports Ax, Ray or Optuna."""


def missing_extra(module: str, extra: str, user: str) -> ImportError:
    """The error for ``user`` when ``module`` is not installed: which extra to install."""
    return ImportError(
        f"{user} needs {module!r}, which is not installed: pip install 'hbo[{extra}]'"
    )
