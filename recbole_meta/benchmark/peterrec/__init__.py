"""Parts of the PeterRec suites (``suites/peterrec*.py``): settings, pre-training, runs, baselines, reports.

* :mod:`.config` -- the suites' settings and their translation into a RecBole ``Config`` and a trainer.
* :mod:`.pretraining` -- one backbone per objective, pre-trained once per seed and reused by every run.
* :mod:`.runs` -- one fine-tuning mode on one task; the step-time ratio.
* :mod:`.baselines` -- bag-of-items logistic regression, majority class, popularity on the same tasks.
* :mod:`.diagnostics` -- whether pre-training learns anything and whether fine-tuning keeps it.
* :mod:`.report` -- the paper's claims checked pair-wise by seed, sizes, learning curves.
* :mod:`.suite_builder` -- the ``Suite`` every PeterRec benchmark is built by.
"""
