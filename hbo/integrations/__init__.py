"""Front ends for tools tuners already use: Ax (:mod:`hbo.integrations.ax`) and Ray Tune
(:mod:`hbo.integrations.ray`). Each needs its extra (``hbo[ax]``, ``hbo[ray]``) and is
imported explicitly, so ``import hbo`` never imports Ax or Ray."""
