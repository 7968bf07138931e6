"""Bad input, table-driven: every case gets one clear line naming the option, file or value, and no traceback.

CLI cases run ``recbole_meta.cli.main`` in-process on tiny datasets written per case; they must exit with 2 and
print exactly one ``error:`` line (the last line of stderr) containing the expected words, and no traceback. API
cases must raise the named exception with the expected words. Warning cases (the run goes on) must log one line
naming what was not used.
"""

import os
import pickle
import sys

import pytest
import torch

from recbole_meta import run_recbole_meta
from recbole_meta.checkpoint import load_checkpoint, save_checkpoint
from recbole_meta.cli import main
from recbole_meta.config import Config
from recbole_meta.data.atomic_files import DataFileError
from recbole_meta.distributed.launch import usable_cpus
from recbole_meta.input_checks import ConfigError, check_option, check_valid_metric
from tests.cold_start_helpers import build
from tests.helpers import TEST_DATA

INTER_HEADER = "user_id:token\titem_id:token\trating:float\ttimestamp:float"
COLD = [  # options that make MeLU's Config valid on the packaged tiny dataset
    "--min_user_inter=10",
    "--max_user_inter=30",
    "--query_size=4",
    "--embedding_size=4",
    "--mlp_hidden_size=[8,8]",
    "--rating_range=[1,5]",
]


def _inter_rows(n_users=6, n_items=12, per_user=8):
    rows, t = [], 0
    for u in range(n_users):
        for k in range(per_user):
            t += 1
            rows.append(f"u{u}\ti{(u + k) % n_items}\t{1 + (u + k) % 5}\t{t}")
    return rows


def write_dataset(root, name="d", inter=None, user=None, item=None):
    """A tiny dataset ``root/name`` (6 users, 12 items); each file's text (or bytes) may be replaced."""
    folder = os.path.join(root, name)
    os.makedirs(folder, exist_ok=True)
    files = {"inter": "\n".join([INTER_HEADER] + _inter_rows()) + "\n" if inter is None else inter}
    if user is not None:
        files["user"] = user
    if item is not None:
        files["item"] = item
    for suffix, content in files.items():
        mode = "wb" if isinstance(content, bytes) else "w"
        with open(os.path.join(folder, f"{name}.{suffix}"), mode) as file:
            file.write(content)
    return root


def write_file(name, content):
    mode = "wb" if isinstance(content, bytes) else "w"
    with open(name, mode) as file:
        file.write(content)
    return name


def _bpr(*extra, data_path=TEST_DATA, dataset="tiny"):
    return ["--model=BPR", f"--dataset={dataset}", f"--data_path={data_path}", *extra]


def _melu(*extra):
    given = {arg.split("=")[0] for arg in extra}
    cold = [arg for arg in COLD if arg.split("=")[0] not in given]
    return ["--model=MeLU", "--dataset=tiny", f"--data_path={TEST_DATA}", *cold, *extra]


def _peterrec(*extra):
    return ["--model=PeterRec", "--dataset=tiny", f"--data_path={TEST_DATA}", "--epochs=1", *extra]


def _on(dataset_kwargs, *extra, model="BPR"):
    """Arguments for a run on a dataset written into the case's folder (the test's working directory)."""

    def make(tmp):
        write_dataset(str(tmp), **dataset_kwargs)
        return [f"--model={model}", "--dataset=d", f"--data_path={tmp}", "--epochs=1", *extra]

    return make


def _unsigned_pickle(option):
    def make(tmp):
        path = write_file(os.path.join(str(tmp), "stranger.pth"), pickle.dumps({"any": "object"}))
        return _bpr(f"--{option}={path}")

    return make


def _file_as_checkpoint_dir(tmp):
    write_file(os.path.join(str(tmp), "afile"), "x")
    return _bpr(f"--checkpoint_dir={os.path.join(str(tmp), 'afile', 'saved')}")


def _config_file(content):
    def make(tmp):
        return _bpr(f"--config_files={write_file(os.path.join(str(tmp), 'c.yaml'), content)}")

    return make


GOOD_ROWS = "\n".join(_inter_rows()) + "\n"

# (case id, argv or argv-maker(tmp_path), words the error line must contain)
CLI_CASES = [
    ("empty-yaml", _config_file(""), ["c.yaml is empty", "option: value"]),
    ("comment-only-yaml", _config_file("# nothing\n"), ["c.yaml is empty"]),
    ("list-yaml", _config_file("- epochs\n- 3\n"), ["c.yaml", "mapping", "yaml list"]),
    ("malformed-yaml", _config_file("epochs: [1\nseed: 2\n"), ["c.yaml", "not valid yaml at line 2"]),
    ("non-utf8-yaml", _config_file(b"epochs: 1\n# \xff\xfe\n"), ["c.yaml", "not UTF-8"]),
    ("missing-yaml", _bpr("--config_files=missing.yaml"), ["config file not found: missing.yaml"]),
    ("epochs-text", _bpr("--epochs=abc"), ["option epochs must be a positive integer", "'abc'"]),
    ("epochs-zero", _bpr("--epochs=0"), ["option epochs must be a positive integer", "got 0"]),
    ("batch-negative", _bpr("--train_batch_size=-5"), ["option train_batch_size", "-5"]),
    ("eval-batch-float", _bpr("--eval_batch_size=2.5"), ["option eval_batch_size", "2.5"]),
    ("lr-negative", _bpr("--learning_rate=-1"), ["option learning_rate must be a positive number"]),
    ("lr-text", _bpr("--learning_rate=fast"), ["option learning_rate", "'fast'"]),
    # a rate beyond float32 failed inside the optimizer ("value cannot be converted to type float")
    (
        "lr-overflow",
        _bpr("--learning_rate=1e38"),
        ["option learning_rate", "up to 1e6 (a step size)", "1e+38"],
    ),
    ("lr-infinite", _bpr("--learning_rate=inf"), ["option learning_rate", "up to 1e6", "'inf'"]),
    ("lr-nan", _bpr("--learning_rate=nan"), ["option learning_rate", "up to 1e6", "'nan'"]),
    ("weight-decay-negative", _bpr("--weight_decay=-0.1"), ["option weight_decay", "non-negative"]),
    ("seed-float", _bpr("--seed=1.5"), ["option seed must be an integer", "1.5"]),
    ("eval-step-text", _bpr("--eval_step=often"), ["option eval_step must be an integer", "'often'"]),
    ("stopping-step-text", _bpr("--stopping_step=many"), ["option stopping_step", "'many'"]),
    ("topk-zero", _bpr("--topk=[0]"), ["option topk", "[0]"]),
    ("topk-text", _bpr("--topk=ten"), ["option topk", "'ten'"]),
    ("topk-above-items", _bpr("--topk=[10,50]"), ["option topk", "only 40 items"]),
    ("bpr-embedding-zero", _bpr("--embedding_size=0"), ["option embedding_size", "got 0"]),
    ("two-equals", _bpr("--epochs=1=2"), ["'--epochs=1=2'", "--option=value"]),
    ("given-twice", _bpr("--seed=1", "--seed=2"), ["--seed is given twice", "'1' and '2'"]),
    ("unknown-model", ["--model=BRP"], ["unknown model 'BRP'; did you mean BPR?"]),
    ("unknown-dataset", ["--model=BPR", "--dataset=nope"], ["unknown dataset 'nope'"]),
    (
        "checkpoint-dir-under-file",
        _file_as_checkpoint_dir,
        ["checkpoint_dir", "afile is a file, not a folder"],
    ),
    ("melu-embedding-zero", _melu("--embedding_size=0"), ["option embedding_size", "got 0"]),
    ("melu-mlp-zero", _melu("--mlp_hidden_size=[8,0]"), ["option mlp_hidden_size", "[8, 0]"]),
    (
        "melu-meta-lr-zero",
        _melu("--meta_lr=0"),
        ["option meta_lr", "positive number up to 1e6 (a step size) or ~"],
    ),
    (
        "melu-learning-rate-overflow",
        _melu("--learning_rate=1e38"),
        ["option learning_rate", "up to 1e6", "1e+38"],
    ),
    ("melu-meta-lr-overflow", _melu("--meta_lr=1e300"), ["option meta_lr", "up to 1e6", "1e+300"]),
    ("melu-local-steps-negative", _melu("--local_update_steps=-1"), ["option local_update_steps"]),
    ("melu-query-size-text", _melu("--query_size=ten"), ["option query_size", "'ten'"]),
    ("broken-flow-value", _melu("--new_item_rule={field: x, min: 1"), ["--new_item_rule=", "yaml flow"]),
    (
        "evidence-for-a-baseline",
        _melu("--model=UserItemBias", "--evidence_candidates=3"),
        ["--evidence_candidates", "UserItemBias has local_update_steps=0"],
    ),
    ("empty-inter", _on({"inter": ""}), ["d.inter, line 1: empty", "name:type"]),
    (
        "header-without-types",
        _on({"inter": "user_id\titem_id\n" + GOOD_ROWS}),
        ["d.inter, line 1: header column 'user_id' is not name:type"],
    ),
    ("log-state-typo", _bpr("--state=verbose"), ["option state must be one of", "'verbose'"]),
    ("unknown-type", _on({"inter": "user_id:token\titem_id:int\n"}), ["d.inter, line 1", "'item_id:int'"]),
    ("repeated-column", _on({"inter": "user_id:token\tuser_id:token\n"}), ["column 'user_id' appears twice"]),
    ("header-only-inter", _on({"inter": INTER_HEADER + "\n"}), ["d.inter: no rows after the header"]),
    (
        "non-utf8-inter",
        _on({"inter": (INTER_HEADER + "\n" + GOOD_ROWS).encode() + b"u9\t\xff\xfe\t3\t99\n"}),
        ["d.inter, line 50", "not utf-8"],
    ),
    (
        "non-utf8-item",
        _on({"item": b"item_id:token\tyear:float\ni1\t19\xe99\n"}),
        ["d.item, line 2", "utf-8"],
    ),
    ("empty-item", _on({"item": ""}), ["d.item, line 1: empty"]),
    (
        "ratings-outside-range",
        _on({"inter": INTER_HEADER + "\n" + GOOD_ROWS + "u0\ti11\t7\t99\n"}, *COLD, model="MeLU"),
        ["outside rating_range [1, 5]", "user u0 item i11: 7"],
    ),
    ("unsigned-dataset-pickle", _unsigned_pickle("dataset_save_path"), ["dataset_save_path", "refused"]),
    (
        "unsigned-loader-pickle",
        _unsigned_pickle("dataloaders_save_path"),
        ["dataloaders_save_path", "refused"],
    ),
    # a True/False option given other text ran as True ('flase' is a truthy string)
    ("bool-text", _melu("--meta_train=flase"), ["option meta_train must be True or False", "'flase'"]),
    ("bool-number", _melu("--first_order=2"), ["option first_order must be True or False", "got 2"]),
    (
        "number-text",
        _melu("--bias_item_shrinkage=big"),
        ["option bias_item_shrinkage must be a number", "'big'"],
    ),
    # a list-valued size given one number failed with "'int' object is not iterable"
    ("size-list-as-int", _melu("--mlp_hidden_size=64"), ["option mlp_hidden_size must be a list", "[64]"]),
    ("mapping-as-list", _bpr("--eval_args=[0.8,0.1,0.1]"), ["option eval_args must be a mapping", "[0.8"]),
    # load_col as a list failed inside RecBole with a traceback ("'NoneType' object has no attribute 'index'")
    ("load-col-list", _bpr("--load_col=['user_id']"), ["option load_col", "mapping", "['user_id']"]),
    ("load-col-field-text", _bpr("--load_col={'inter': 'user_id'}"), ["option load_col", "mapping"]),
    # an empty test split trained, then printed "test result:" with nothing after it and exit status 0
    (
        "empty-test-split",
        _bpr("--eval_args={'split': {'RS': [1.0, 0.0, 0.0]}}"),
        ["test split of dataset tiny is empty", "{'RS': [1.0, 0.0, 0.0]}"],
    ),
    # more processes than cores started them all, each loading the data, before anything failed
    (
        "nproc-above-cores",
        _bpr(f"--nproc={usable_cpus() + 1}", "--use_gpu=False"),  # a CPU run, also on a machine with GPUs
        [f"--nproc={usable_cpus() + 1}", "CPU cores"],
    ),
    # a valid_metric that is not computed failed after the first epoch with the bare line "error: ndcg@20"
    (
        "valid-metric-not-computed",
        _bpr("--valid_metric=NDCG@20"),
        ["valid_metric NDCG@20 is not computed", "topk"],
    ),
    # a top-k metric without its cut-off passed the check and failed after the first epoch with "error: recall"
    (
        "valid-metric-without-cut-off",
        _bpr("--valid_metric=Recall"),
        ["valid_metric Recall is not computed", "NAME@K"],
    ),
    # a metric without cut-offs given one: RecBole reports "mae", never "mae@3"
    (
        "valid-metric-with-a-cut-off-it-lacks",
        _melu("--valid_metric=MAE@3", "--eval_states=[warm,user_cold]"),
        ["valid_metric MAE@3 is not computed"],
    ),
    # ranking metrics for an episodic model: an IndexError traceback from RecBole's collector
    (
        "melu-ranking-metrics",
        _melu("--metrics=['Recall']", "--valid_metric=Recall@3", "--eval_states=[warm,user_cold]"),
        ["MeLU predicts each task's query ratings", "value metrics", "['Recall']"],
    ),
    # one state as text was read letter by letter: "got ['w', 'a', 'r', 'm']"
    ("eval-states-text", _melu("--eval_states=warm"), ["eval_states must be a list of states", "'warm'"]),
    ("rating-range-reversed", _melu("--rating_range=[5,1]"), ["rating_range", "low < high", "[5, 1]"]),
    # yaml reads {field:year} as the key 'field:year'; the rule then "names no rule"
    (
        "flow-without-space",
        _melu("--new_item_rule={field:year,min:3}"),
        ["yaml needs a space after each ':'"],
    ),
    # a pairwise model without negatives failed in its first batch with the bare line "error: neg_item_id"
    (
        "bpr-without-negatives",
        _bpr("--train_neg_sample_args=~"),
        ["model BPR trains on", "train_neg_sample_args"],
    ),
    # a dataset with ratings only: one line that names it and the two ways out
    (
        "melu-without-features",
        _on(
            {"inter": "\n".join([INTER_HEADER] + _inter_rows(n_users=12, n_items=20, per_user=14)) + "\n"},
            *COLD,
            "--eval_states=[warm,user_cold]",
            model="MeLU",
        ),
        ["MeLU needs at least one user or item feature", "dataset d loads none", "item_features: [item_id]"],
    ),
    # forgetting --stage=finetune pre-trained a backbone, dropping the fine-tuning options without a word
    (
        "peterrec-finetune-options-in-pretrain",
        _peterrec("--downstream_task=gender", "--pretrained_path=b.pth"),
        ["stage pretrain (the default) does not read downstream_task=gender, pretrained_path=b.pth"],
    ),
    # a misspelt patch option passed unseen in a mode without patches
    (
        "peterrec-patch-typo",
        _peterrec(
            "--stage=finetune", "--finetune_mode=scratch", "--downstream_task=gender", "--patch_insertion=x"
        ),
        ["patch_insertion must be one of serial, parallel, single", "'x'"],
    ),
    (
        "missing-dataset-pickle",
        _bpr("--dataset_save_path=nothing.pth"),
        ["dataset_save_path", "no such file"],
    ),
]


def _run_cli(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("argv, words", [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_cli_bad_input_is_one_line(argv, words, tmp_path, capsys):
    if callable(argv):
        argv = argv(tmp_path)
    quiet = [] if any(a.startswith("--state=") for a in argv) else ["--state=ERROR"]
    code, out, err = _run_cli(argv + ["--show_progress=False"] + quiet, capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, (code, out[-2000:], err[-2000:])
    assert "Traceback" not in out + err
    errors = [line for line in lines if line.startswith("run_recbole_meta.py: error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], err
    for word in words:
        assert word in errors[0], errors[0]


def _api_empty_yaml(tmp):
    run_recbole_meta(
        "BPR", "tiny", config_file_list=[write_file("e.yaml", "")], config_dict={"data_path": TEST_DATA}
    )


def _api_bad_option(tmp):
    Config("BPR", "tiny", config_dict={"data_path": TEST_DATA, "learning_rate": "fast"}, argv=[])


def _api_bad_header(tmp):
    write_dataset(str(tmp), inter="user_id:token\titem_id\n")
    run_recbole_meta("BPR", "d", config_dict={"data_path": str(tmp), "epochs": 1}, argv=[])


def _api_damaged_checkpoint(tmp):
    data = open(save_checkpoint("ok.pth", state_dict={"w": torch.zeros(4)}), "rb").read()
    load_checkpoint(write_file("cut.pth", data[: len(data) // 2]))


def _api_empty_checkpoint(tmp):
    load_checkpoint(write_file("empty.pth", b""))


def _api_code_running_checkpoint(tmp):
    torch.save({"call": os.system}, "evil.pth")
    load_checkpoint("evil.pth")


def _without_lightgbm(model):
    """Build a config for ``model`` as if lightgbm were not installed (as on a fresh install)."""
    saved = {
        k: sys.modules.pop(k) for k in list(sys.modules) if k.startswith(("lightgbm", "recbole.model.exlib"))
    }
    sys.modules["lightgbm"] = None  # as if not installed
    try:
        Config(model, "tiny", config_dict={"data_path": TEST_DATA}, argv=[])
    finally:
        del sys.modules["lightgbm"]
        sys.modules.update(saved)


def _api_missing_optional_package(tmp):
    _without_lightgbm("LightGBM")


def _api_unknown_model_without_optional_package(tmp):
    _without_lightgbm("BRP")  # a typo is a typo, not a missing lightgbm


def _api_no_trainable_parameters(tmp):
    from recbole_meta.quick_start import build_run

    config = Config("BPR", "tiny", config_dict={"data_path": TEST_DATA, "state": "ERROR"}, argv=[])
    config["embedding_size"] = 0  # past the option check, as a user's own model with no parameters would be
    build_run(config)


def _api_step_size(option, value):
    def make(tmp):
        Config("MeLU", "tiny", config_dict={"data_path": TEST_DATA, option: value}, argv=COLD)

    return make


def _api_nan_predictions(tmp):
    _, (_, valid, _), _, trainer = build("MeLU", "tiny", local_lr=1e12)
    trainer.evaluate(valid, load_best_model=False)


API_CASES = [
    ("api-empty-yaml", _api_empty_yaml, ConfigError, "e.yaml is empty"),
    ("api-option-type", _api_bad_option, ConfigError, "option learning_rate must be a positive number"),
    (
        "api-infinite-learning-rate",
        _api_step_size("learning_rate", float("inf")),
        ConfigError,
        r"option learning_rate must be a positive number up to 1e6 \(a step size\), got inf",
    ),
    ("api-nan-meta-lr", _api_step_size("meta_lr", float("nan")), ConfigError, "option meta_lr must be"),
    (
        "api-nan-local-lr",
        _api_step_size("local_lr", float("nan")),
        ConfigError,
        "option local_lr must be a finite non-negative number, got nan",
    ),
    ("api-bad-header", _api_bad_header, DataFileError, "d.inter, line 1: header column 'item_id'"),
    ("api-damaged-checkpoint", _api_damaged_checkpoint, ValueError, "cut.pth is damaged"),
    ("api-empty-checkpoint", _api_empty_checkpoint, ValueError, "empty.pth is empty"),
    (
        "api-code-running-checkpoint",
        _api_code_running_checkpoint,
        ValueError,
        "not a recbole_meta checkpoint",
    ),
    ("api-missing-package", _api_missing_optional_package, ValueError, "needs the Python package 'lightgbm'"),
    (
        "api-unknown-model-without-optional-package",
        _api_unknown_model_without_optional_package,
        ValueError,
        "unknown model 'BRP'; did you mean BPR?",
    ),
    ("api-no-parameters", _api_no_trainable_parameters, ConfigError, "BPR has no trainable parameters"),
    (
        "api-nan-predictions",
        _api_nan_predictions,
        ValueError,
        "NaN or infinite.*lower meta_lr=0.001, local_lr=1000000000000.0",
    ),
]


@pytest.mark.parametrize("call, error, words", [c[1:] for c in API_CASES], ids=[c[0] for c in API_CASES])
def test_api_bad_input_raises_a_named_error(call, error, words, tmp_path):
    with pytest.raises(error, match=words) as info:
        call(tmp_path)
    assert "\n" not in str(info.value)


def test_cases_are_many():
    assert len(CLI_CASES) + len(API_CASES) >= 40


# ------------------------------------------------------------------------------------------- nothing ignored
def test_misspelled_option_is_named_with_the_closest_key():
    config = Config("BPR", "tiny", config_dict={"data_path": TEST_DATA}, argv=["--epoch=1"])
    assert config.option_notes == [
        "command-line option --epoch is not an option of RecBole or recbole_meta and is not used; "
        "did you mean epochs?"
    ]
    config = Config("BPR", "tiny", config_dict={"data_path": TEST_DATA, "learning_rat": 0.1}, argv=[])
    assert (
        "config_dict key learning_rat" in config.option_notes[0]
        and "learning_rate?" in config.option_notes[0]
    )


def test_a_near_miss_in_a_config_file_is_named_with_its_file():
    # `epoch: 3` in a config file was accepted as the user's own key: the run trained the default epochs
    write_file("typo.yaml", "epoch: 3\ntopK: [5]\nmy_model_depth: 3\n")
    config = Config(
        "BPR", "tiny", config_file_list=["typo.yaml"], config_dict={"data_path": TEST_DATA}, argv=[]
    )
    assert config.option_notes == [
        "option epoch of config file typo.yaml is not an option of RecBole or recbole_meta and is not used; "
        "did you mean epochs?",
        "option topK of config file typo.yaml is not an option of RecBole or recbole_meta and is not used; "
        "did you mean topk?",
    ]


def test_own_keys_in_config_files_and_known_keys_are_silent():
    write_file("mine.yaml", "my_model_depth: 3\n")
    config = Config(
        "BPR",
        "tiny",
        config_file_list=["mine.yaml"],
        config_dict={"data_path": TEST_DATA, "knn_method": "item", "meta_lr": 0.1},
        argv=["--epochs=1", "--like_threshold=4"],
    )
    assert config.option_notes == [] and config["my_model_depth"] == 3


@pytest.mark.parametrize("model", ["MeLU", "MatchingNet", "ProtoRec"])
def test_learning_rate_is_the_meta_lr_of_episodic_models(model):
    config = Config(model, "tiny", config_dict={"data_path": TEST_DATA}, argv=COLD + ["--learning_rate=0.05"])
    assert config["meta_lr"] == 0.05 and "learning_rate=0.05 is used as meta_lr" in config.option_notes[0]
    both = Config(
        model, "tiny", config_dict={"data_path": TEST_DATA}, argv=["--learning_rate=0.05", "--meta_lr=0.2"]
    )
    assert both["meta_lr"] == 0.2 and "learning_rate=0.05 is not used: meta_lr=0.2" in both.option_notes[0]
    assert Config(model, "tiny", config_dict={"data_path": TEST_DATA}, argv=[])["meta_lr"] == 0.001


def test_learning_rate_reaches_the_optimizer():
    _, _, _, trainer = build("MeLU", "tiny", learning_rate=0.05)
    assert trainer.optimizer.param_groups[0]["lr"] == 0.05


def test_yaml_words_on_the_command_line_mean_what_they_mean_in_a_file():
    # RecBole reads true/false itself but keeps ~ and null as text
    argv = ["--meta_train=false", "--first_order=TRUE", "--max_user_inter=~", "--full_ranking_topk=null"]
    config = Config("MeLU", "tiny", config_dict={"data_path": TEST_DATA}, argv=argv)
    assert config["meta_train"] is False and config["first_order"] is True
    assert config["max_user_inter"] is None and config["full_ranking_topk"] is None


def test_an_empty_validation_split_is_reported_and_the_run_goes_on(caplog):
    from recbole_meta.quick_start import build_run

    split = {"split": {"RS": [0.8, 0.0, 0.2]}}
    config = Config("BPR", "tiny", config_dict={"data_path": TEST_DATA, "eval_args": split}, argv=[])
    _, (_, valid_data, test_data), _, _ = build_run(config)
    assert len(valid_data._dataset) == 0 and len(test_data._dataset) > 0
    assert "the validation split is empty" in caplog.text and "no early stopping" in caplog.text


def test_recbole_interval_text_on_the_command_line_stays_text_for_recbole():
    from recbole.data import create_dataset

    argv = ["--user_inter_num_interval=[20,inf)", "--item_inter_num_interval=(0,1];[3,inf)"]
    config = Config("BPR", "tiny", config_dict={"data_path": TEST_DATA}, argv=argv)
    assert config["user_inter_num_interval"] == "[20,inf)"
    assert config["item_inter_num_interval"] == "(0,1];[3,inf)"
    counts = create_dataset(config).inter_feat["user_id"].value_counts()
    assert 0 < len(counts) < 60 and counts.min() >= 20  # RecBole applied the interval (tiny: 60 users, 10-25)


def test_valid_metric_needs_a_cut_off_exactly_when_the_metric_reports_per_cut_off():
    good = {"metrics": ["Recall", "GAUC", "ItemCoverage"], "topk": [5, 10], "eval_args": {"mode": "full"}}
    for valid_metric in ("Recall@10", "GAUC", "ItemCoverage@5"):
        config = Config(
            "BPR", "tiny", config_dict={"data_path": TEST_DATA, **good, "valid_metric": valid_metric}
        )
        check_valid_metric(config)
    for valid_metric in ("Recall", "GAUC@10", "Recall@20", "NDCG@10"):
        config = Config(
            "BPR", "tiny", config_dict={"data_path": TEST_DATA, **good, "valid_metric": valid_metric}
        )
        with pytest.raises(ConfigError, match=f"valid_metric {valid_metric} is not computed"):
            check_valid_metric(config)


def test_yaml_flow_value_on_the_command_line():
    config = Config(
        "MeLU", "tiny", config_dict={"data_path": TEST_DATA}, argv=["--new_item_rule={field: year, min: 3}"]
    )
    assert config["new_item_rule"] == {"field": "year", "min": 3}


def test_repeated_ids_and_extra_columns_are_reported(tmp_path, caplog):
    item = "item_id:token\tyear:float\ni1\t1990\ni1\t1991\ni2\t1992\n"
    inter = INTER_HEADER + "\n" + GOOD_ROWS + "u1\ti3\t4\t500\textra\n"
    write_dataset(str(tmp_path), inter=inter, item=item)
    config = Config("BPR", "d", config_dict={"data_path": str(tmp_path), "load_col": None}, argv=[])
    from recbole_meta.data_preparation import create_dataset

    dataset = create_dataset(config)
    assert "d.item: 1 row(s) repeat an item_id already given (e.g. i1); only the first row" in caplog.text
    assert "d.inter, line 50: more columns than the header's 4 (1 row(s) like it)" in caplog.text
    assert dataset.item_feat["year"][dataset.token2id("item_id", "i1")] == 1990


def test_inferred_rating_range_is_reported_when_unusual(tmp_path, caplog):
    rows = [r.rsplit("\t", 2) for r in _inter_rows(n_users=20, n_items=30, per_user=14)]
    rows = [f"{head}\t{7 if n == 0 else rating}\t{t}" for n, (head, rating, t) in enumerate(rows)]
    write_dataset(str(tmp_path), inter="\n".join([INTER_HEADER] + rows) + "\n")
    dataset, _, _, _ = build(
        "UserItemBias",
        "d",
        data_path=str(tmp_path),
        rating_range=None,
        new_item_rule=None,
        eval_states=["warm", "user_cold"],
    )
    assert dataset.cold_split.report["rating range (inferred; rating_range not set)"] == "[1, 7]"
    assert "the ratings span [1, 7], not a common scale" in caplog.text and "set rating_range" in caplog.text


def test_saved_dataset_signed_by_this_plugin_is_loaded_back(tmp_path):
    from recbole_meta.data_preparation import create_dataset

    settings = {"data_path": TEST_DATA, "checkpoint_dir": str(tmp_path), "save_dataset": True}
    first = create_dataset(Config("BPR", "tiny", config_dict=settings, argv=[]))
    path = os.path.join(str(tmp_path), "tiny-Dataset.pth")
    assert os.path.isfile(path + ".sig")
    again = create_dataset(
        Config("BPR", "tiny", config_dict={"data_path": TEST_DATA, "dataset_save_path": path}, argv=[])
    )
    assert again.inter_num == first.inter_num
    with open(path, "ab") as file:  # edited after saving: refused
        file.write(b"\0")
    with pytest.raises(ConfigError, match="refused"):
        create_dataset(
            Config("BPR", "tiny", config_dict={"data_path": TEST_DATA, "dataset_save_path": path}, argv=[])
        )


def test_two_runs_in_one_second_get_their_own_log_files():
    from recbole.utils import init_logger

    config = Config("BPR", "tiny", config_dict={"data_path": TEST_DATA, "state": "ERROR"}, argv=[])
    init_logger(config)
    init_logger(config)  # same config, same second
    assert len(os.listdir(os.path.join("log", "BPR"))) == 2


def test_ctrl_c_is_one_line(monkeypatch, capsys):
    import recbole_meta

    def interrupted(**kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(recbole_meta, "run_recbole_meta", interrupted)
    assert main(["--model=BPR"]) == 130
    err = capsys.readouterr().err
    assert err.strip() == "run_recbole_meta.py: interrupted (Ctrl-C); nothing was tested"


@pytest.mark.parametrize(
    "kind, good, bad",
    [("positive integer", 3, (0, -1, 2.5, True, "3")), ("positive number", 0.1, (0, -0.5, False, "0.1"))],
)
def test_an_option_a_model_reads_itself_is_checked_like_the_core_options(kind, good, bad):
    # MatchingNet's temperature, the episodes' batch sizes, the split's query size: one check, one message
    assert check_option({"key": good}, "key", kind) == good
    for value in bad:
        with pytest.raises(ConfigError, match=f"^option key must be a {kind}, got {value!r}"):
            check_option({"key": value}, "key", kind)
