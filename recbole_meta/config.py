"""RecBole's ``Config``, aware of the plugin's models and yaml files.

Precedence is RecBole's: RecBole's defaults < the plugin's ``properties/`` (overall, model, dataset yaml) <
config files < config dict < command line. Differences from RecBole's ``Config``:

* model names resolve through :func:`recbole_meta.registry.get_model` (plugin first, then RecBole);
* the command line is read from the ``argv`` argument when given (tests pass ``argv=[]`` so that pytest's own
  arguments never become config keys), from ``sys.argv[1:]`` otherwise;
* a missing config file, an unknown model and a dataset without atomic files raise one clear error each.
"""

import os
import sys

from recbole.config import Config as RecBoleConfig
from recbole.utils import ModelType

from recbole_meta import input_checks
from recbole_meta.compat.config import command_line
from recbole_meta.registry import get_model

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def properties_dir():
    """The plugin's ``properties/`` folder, from an installed copy or a source checkout.

    A wheel ships the top-level ``properties/`` inside the package as ``recbole_meta/properties``; a source
    checkout (and an editable install) has it beside the package.
    """
    for candidate in (
        os.path.join(_PACKAGE_DIR, "properties"),
        os.path.join(os.path.dirname(_PACKAGE_DIR), "properties"),
    ):
        if os.path.isfile(os.path.join(candidate, "overall.yaml")):
            return candidate
    raise FileNotFoundError(
        f"recbole_meta's properties/ folder (with overall.yaml) was found neither in {_PACKAGE_DIR} "
        "nor beside it; reinstall the package"
    )


def plugin_default_files(model_class, dataset):
    """The plugin's yaml files a model on a dataset reads, paths relative to :func:`properties_dir`, in
    precedence order (later ones override earlier ones; a file that does not exist is skipped). A dataset of
    ``None`` (named only at run time) leaves out the dataset's own files."""
    model_type = getattr(model_class.type, "value", model_class.type)
    files = [
        "overall.yaml",
        os.path.join("quick_start_config", f"{model_type}.yaml"),
        os.path.join("model", f"{model_class.__name__}.yaml"),
    ]
    if dataset is not None:
        files.insert(3, os.path.join("dataset", f"{dataset}.yaml"))
        files.append(os.path.join("quick_start_config", f"{model_type}_{dataset}.yaml"))
    return files


class Config(RecBoleConfig):
    """RecBole's configurator with the plugin's models and ``properties/``.

    Args:
        model (str or class): model name or class; if None, read from the external config (``model`` key).
        dataset (str): dataset name; if None, read from the external config (``dataset`` key).
        config_file_list (list of str): yaml files, later ones override earlier ones.
        config_dict (dict): parameters overriding the files.
        argv (list of str): command-line arguments (``--key=value``) overriding everything; ``None`` reads
            ``sys.argv[1:]`` as RecBole does.
    """

    def __init__(self, model=None, dataset=None, config_file_list=None, config_dict=None, argv=None):
        self._argv = list(sys.argv[1:] if argv is None else argv)
        self._argv_given = argv is not None  # sys.argv may hold another program's arguments: not checked
        self.option_notes = []  # lines to log once the logger exists (see recbole_meta.input_checks)
        super().__init__(
            model=model, dataset=dataset, config_file_list=config_file_list, config_dict=config_dict
        )
        self.option_notes = input_checks.unknown_option_warnings(self) + self.option_notes

    # ------------------------------------------------------------------------------------ external input
    def _load_config_files(self, file_list):
        if isinstance(file_list, str):
            file_list = [file_list]
        file_config = {}
        self.config_file_of_key = {}  # which file set each key, for the messages of input_checks
        for file in file_list or []:
            content = input_checks.load_config_file(file, self.yaml_loader)
            file_config.update(content)
            self.config_file_of_key.update(dict.fromkeys(content, file))
        return file_config

    def _load_cmd_line(self):
        if self._argv_given:
            input_checks.check_command_line(self._argv)
        with command_line(self._argv):
            return input_checks.read_flow_values(super()._load_cmd_line(), self.yaml_loader)

    def _get_model_and_dataset(self, model, dataset):
        if model is None:
            model = self.external_config_dict.get("model")
            if model is None:
                raise ValueError("no model given: pass --model=NAME (or `model:` in a config file / dict)")
        model_class = get_model(model)
        if dataset is None:
            dataset = self.external_config_dict.get("dataset")
            if dataset is None:
                raise ValueError(
                    "no dataset given: pass --dataset=NAME (or `dataset:` in a config file / dict)"
                )
        return model_class.__name__, model_class, dataset

    # ------------------------------------------------------------------------------------ internal defaults
    def _load_internal_config_dict(self, model, model_class, dataset):
        super()._load_internal_config_dict(model, model_class, dataset)
        plugin = properties_dir()
        for relative in plugin_default_files(model_class, dataset):
            file = os.path.join(plugin, relative)
            if os.path.isfile(file):
                config_dict = self._update_internal_config_dict(file)
                if file.endswith(os.path.join("dataset", f"{dataset}.yaml")) and config_dict:
                    self.parameters["Dataset"] += [
                        k for k in config_dict if k not in self.parameters["Dataset"]
                    ]

    def _set_default_parameters(self):
        # RecBole's overall.yaml samples one negative per positive, while its sequential models default to
        # loss_type CE, which refuses negatives: `--model=SASRec` fails out of the box. Unless the user set
        # train_neg_sample_args, a CE sequential model gets none, as RecBole's documentation prescribes.
        if (
            self.final_config_dict.get("MODEL_TYPE") == ModelType.SEQUENTIAL
            and self.final_config_dict.get("loss_type") == "CE"
            and "train_neg_sample_args" not in self.external_config_dict
        ):
            self.final_config_dict["train_neg_sample_args"] = None
        input_checks.check_value_types(self.internal_config_dict, self.external_config_dict)
        input_checks.check_load_col(self.final_config_dict)
        input_checks.check_option_values(self.final_config_dict)
        note = input_checks.use_learning_rate_as_meta_lr(self)
        if note:
            self.option_notes.append(note)
        super()._set_default_parameters()
        data_path = self.final_config_dict["data_path"]
        inter_file = os.path.join(data_path, f"{self.dataset}.inter")
        if not os.path.isdir(data_path):
            raise ValueError(
                f"unknown dataset '{self.dataset}': folder {data_path} does not exist "
                f"(expected atomic files such as {self.dataset}.inter there; set data_path to its parent)"
            )
        if not any(f.startswith(self.dataset + ".") for f in os.listdir(data_path)):
            raise ValueError(
                f"dataset '{self.dataset}': no atomic files in {data_path} (expected {inter_file})"
            )
