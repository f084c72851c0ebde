"""Integer arguments of the diagnostics: any integer type (numpy's too), never a bool.
(SBC's moved with it: tests/hierarchy/test_sbc_nuts_models.py.)"""

import arviz as az
import numpy as np
import pytest

from hbo.diagnostics import funnel
from hbo.diagnostics.funnel import REGULAR_LABEL
from hbo.errors import InvalidArgumentError


def test_funnel_group_accepts_numpy_integers_not_bools(rng):
    idata = az.from_dict(posterior={"theta": rng.normal(size=(2, 50, 3)),
                                    "tau": np.exp(rng.normal(size=(2, 50)))})
    ax = funnel(idata, "theta", "tau", group=np.int64(1))
    (drawn,) = [c for c in ax.collections if c.get_label().startswith(REGULAR_LABEL)]
    np.testing.assert_allclose(drawn.get_offsets()[:, 0],
                               idata.posterior["theta"].values[..., 1].reshape(-1))
    with pytest.raises(InvalidArgumentError, match="group must be an integer"):
        funnel(idata, "theta", "tau", group=True)
