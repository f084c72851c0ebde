"""How ``v2_study.db`` was made: run with hbo at schema version 2 (commit a9b0c68).

    PYTHONPATH=<hbo at a9b0c68> python tests/storage/data/make_v2_study.py v2_study.db

Two studies in one SQLite file, written by the code that the schema migration to
version 3 (several outcomes) must read: ``v2-study`` (task ``target``, seed 7,
``minimize``) with 2 history trials on ``source`` (one with a user attribute), 4 asked
trials on ``target`` (2 complete, 1 failed, 1 running) and 1 enqueued trial still
waiting; and ``max-study`` (task ``t2``, ``maximize``, one complete trial). The file is
committed; this script no longer runs with the current hbo (it checks that the schema is
version 2).
"""

import sys

import hbo
from hbo.storage import _schema

assert _schema.SCHEMA_VERSION == 2, "run with hbo at schema version 2"
SPACE = hbo.SearchSpace([hbo.Float("x", -1.0, 1.0), hbo.Int("k", 0, 5)])
url = f"sqlite:///{sys.argv[1]}"
study = hbo.Study(SPACE, task="target", seed=7, storage=url, name="v2-study", n_initial=10**6)
study.add_history("source", [{"x": 0.1, "k": 1}, {"x": -0.5, "k": 3}], [1.5, 2.5])
study.set_user_attr(0, "paper", "smith2020")
done1, done2, failed, running = study.ask(4)
study.tell(done1, 0.25)
study.tell(done2, 0.75)
study.tell(failed, failed=True)
study.enqueue({"x": 0.0, "k": 0})
other = hbo.Study(SPACE, task="t2", direction="maximize", seed=8, storage=url,
                  name="max-study", n_initial=10**6)
other.tell(other.ask(), 3.0)
study.storage.close()
other.storage.close()
