"""How ``v1_study.db`` was made: run with hbo at schema version 1 (commit 38a55a4).

    PYTHONPATH=<hbo at 38a55a4> python tests/storage/data/make_v1_study.py v1_study.db

Two studies in one SQLite file, written by the code that the schema migration must read:
``v1-study`` (task ``target``, seed 5) with 3 history trials on ``source`` and 4 asked
trials on ``target`` (2 complete, 1 failed, 1 running), and ``other-study`` (task ``t2``,
one complete trial). The file is committed; this script no longer runs with the current
hbo (it checks that the schema is version 1).
"""

import sys

import hbo
from hbo.storage import _schema

assert _schema.SCHEMA_VERSION == 1, "run with hbo at schema version 1"
SPACE = hbo.SearchSpace(
    [hbo.Float("x", -1.0, 1.0), hbo.Int("k", 0, 5), hbo.Categorical("c", ["a", "b"])]
)
url = f"sqlite:///{sys.argv[1]}"
study = hbo.Study(SPACE, task="target", seed=5, storage=url, name="v1-study", n_initial=10**6)
study.add_history(
    "source",
    [{"x": 0.1, "k": 1, "c": "a"}, {"x": -0.5, "k": 3, "c": "b"}, {"x": 0.9, "k": 0, "c": "a"}],
    [1.5, 2.5, 0.5],
)
done1, done2, failed, running = study.ask(4)
study.tell(done1, 0.25)
study.tell(done2, 0.75)
study.tell(failed, failed=True)
other = hbo.Study(SPACE, task="t2", seed=6, storage=url, name="other-study", n_initial=10**6)
other.tell(other.ask(), 3.0)
study.storage.close()
other.storage.close()
