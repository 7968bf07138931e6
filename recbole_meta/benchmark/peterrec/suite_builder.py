"""The ``Suite`` of every PeterRec benchmark: three seeds, backbones pre-trained once, the paper's claims reported.

:func:`peterrec_suite` builds any PeterRec suite from its config and runs; :func:`ml100k_suite` adds what the two
ml-100k suites share (PeterRec's shared settings; in quick mode a tiny synthetic dataset instead of ml-100k).
"""

from recbole_meta.benchmark.peterrec.config import QUICK, SHARED, quick_dataset
from recbole_meta.benchmark.peterrec.pretraining import prepare_backbones
from recbole_meta.benchmark.peterrec.report import paper_claims
from recbole_meta.benchmark.suite import Suite


def peterrec_suite(name, description, config, quick_config, runs, domain, primary_metric, claims=None):
    """A PeterRec suite: PeterRec-serial compared with the other runs on ``primary_metric``, over seeds 0-2.

    Args:
        domain (str): the items the backbone pre-trains on (``all`` or ``source``).
        claims (list): further paired tables of the report (see :func:`~.report.paper_claims`).
    """
    return Suite(
        name=name,
        description=description,
        config=config,
        quick_config=quick_config,
        runs=runs,
        seeds=(0, 1, 2),
        prepare=prepare_backbones(name, domain),
        regenerate_command=f"python -m recbole_meta.benchmark {name} --threads 1",
        report_hook=paper_claims(primary_metric, extra=claims),
        compare="PeterRec-serial",
        primary_metric=primary_metric,
        info_columns=(),
    )


def ml100k_suite(name, description, runs, domain, options, primary_metric):
    """A PeterRec suite on ml-100k (quick mode: a tiny synthetic dataset) with PeterRec's shared settings."""
    quick_config = dict(QUICK)
    if options.quick:
        quick_config.update(quick_dataset(options.out_dir))
    return peterrec_suite(name, description, SHARED, quick_config, runs, domain, primary_metric)
