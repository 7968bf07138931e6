"""What the two ml-100k PeterRec suites share: settings, quick mode, pre-training and the report."""

from recbole_meta.benchmark.peterrec.config import QUICK, SHARED, quick_dataset
from recbole_meta.benchmark.peterrec.pretraining import prepare_backbones
from recbole_meta.benchmark.peterrec.report import paper_claims
from recbole_meta.benchmark.suite import Suite


def ml100k_suite(name, description, runs, domain, options, compare, primary_metric):
    """A suite on ml-100k (quick mode: a tiny synthetic dataset) with PeterRec's shared settings."""
    quick_config = dict(QUICK)
    if options.quick:
        quick_config.update(quick_dataset(options.out_dir))
    return Suite(
        name=name,
        description=description,
        config=SHARED,
        quick_config=quick_config,
        runs=runs,
        seeds=(0, 1, 2),
        prepare=prepare_backbones(name, domain),
        regenerate_command=f"python -m recbole_meta.benchmark {name} --threads 1",
        report_hook=paper_claims(primary_metric),
        compare=compare,
        primary_metric=primary_metric,
        info_columns=(),
    )
