import os

import numpy as np
import scipy.sparse as sp

from recbole_meta import compat


def test_numpy_aliases_exist_and_are_the_right_types():
    compat.apply()
    assert np.float_ is np.float64
    assert np.complex_ is np.complex128
    assert np.unicode_ is np.str_


def test_apply_is_idempotent():
    compat.apply()
    before = (np.float_, sp.dok_matrix._update)
    compat.apply()
    assert (np.float_, sp.dok_matrix._update) == before
    assert compat.is_applied()


def test_dok_update_builds_the_same_matrix_as_item_assignment():
    compat.apply()
    entries = {(0, 1): 1.0, (2, 0): 0.5, (1, 1): 2.0}
    bulk = sp.dok_matrix((3, 3), dtype=np.float32)
    bulk._update(entries)
    one_by_one = sp.dok_matrix((3, 3), dtype=np.float32)
    for key, value in entries.items():
        one_by_one[key] = value
    np.testing.assert_array_equal(bulk.toarray(), one_by_one.toarray())


def test_recbole_quick_start_and_ray_are_never_imported():
    from tests.helpers import run_python

    code = (
        "import sys, recbole_meta, recbole_meta.registry, recbole_meta.cli;"
        "recbole_meta.registry.plugin_model_names();"
        "bad = [m for m in sys.modules if m == 'ray' or m.startswith('recbole.quick_start')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    out = run_python("-c", code)
    assert out.returncode == 0, out.stdout + out.stderr


def test_recbole_trainer_amp_namespace_has_what_its_trainers_use():
    """RecBole's trainer module calls amp.GradScaler (every trainer) and amp.autocast (NCLTrainer)."""
    from recbole.trainer import trainer as recbole_trainer

    recbole_trainer.amp.GradScaler(enabled=False)
    with recbole_trainer.amp.autocast(enabled=False):
        pass


def test_a_folder_created_by_another_process_between_check_and_create_is_not_an_error(tmp_path, monkeypatch):
    # torchrun starts every rank at once; each creates log/<model> and checkpoint_dir. RecBole's ensure_dir checks
    # os.path.exists, then calls os.makedirs: a folder another rank makes in between raised "File exists".
    import recbole.trainer.trainer as recbole_trainer
    import recbole.utils.logger as recbole_logger

    folder = tmp_path / "log" / "BPR"
    folder.mkdir(parents=True)
    monkeypatch.setattr(os.path, "exists", lambda path: False)  # the check ran before the other rank's mkdir
    recbole_logger.ensure_dir(str(folder))
    recbole_trainer.ensure_dir(str(folder))
    assert folder.is_dir()
