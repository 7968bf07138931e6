"""A tower of a two-tower retrieval model: embeds a row's feature fields, an MLP, an L2-normalised output.

Reference:
    Xinyang Yi et al. "Sampling-Bias-Corrected Neural Modeling for Large Corpus Item Recommendations."
    RecSys 2019, Sec. 3 (query and item towers over id and content features, normalised embeddings).
    Tiansheng Yao et al. "Self-supervised Learning for Large-scale Item Recommendations." CIKM 2021,
    Sec. 3.3: a masked feature is replaced by a learned default embedding of its field.

Field kinds (RecBole feature types):

* ``token`` -- an embedding per token; token 0 (RecBole's padding / missing value) counts as missing.
* ``token_seq`` -- the mean of the embeddings of the non-padding values (the values a view keeps); a row
  without any value counts as missing.
* ``float`` -- ``value * w + b`` with a learned vector ``w`` and bias ``b``; a field listed in RecBole's
  ``numerical_features`` arrives as ``[value, bucket]`` pairs and is embedded as ``value * E[bucket]``.

A missing or masked field takes its field's learned default embedding. The field embeddings are concatenated
and passed through an MLP (ReLU between layers, linear output); the output is L2-normalised so that dot
products between towers are cosine similarities.

The meta-learners embed fields with :class:`recbole_meta.model.layers.feature_encoder.FeatureEncoder` instead (a
missing value is the zero padding embedding, looked up by entity id, unseen tokens masked); see there why the
two are separate.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from recbole.utils import FeatureType
from torch import nn

KINDS = ("token", "token_seq", "float", "float_pair")


@dataclass(frozen=True)
class FieldSpec:
    """One input field of a tower: its name, kind (see :data:`KINDS`) and vocabulary size (tokens / buckets)."""

    name: str
    kind: str
    vocab: int = 0

    @property
    def multi_valued(self):
        return self.kind == "token_seq"


def field_specs(dataset, fields, numerical_features=()):
    """``FieldSpec`` objects for fields of a RecBole ``Dataset``.

    Raises ``ValueError`` for a field the dataset does not have or of an unsupported type (``float_seq``).
    """
    specs = []
    for field in fields:
        if field not in dataset.field2type:
            raise ValueError(f"field '{field}' is not loaded in dataset '{dataset.dataset_name}'")
        ftype = dataset.field2type[field]
        if ftype == FeatureType.TOKEN:
            specs.append(FieldSpec(field, "token", dataset.num(field)))
        elif ftype == FeatureType.TOKEN_SEQ:
            specs.append(FieldSpec(field, "token_seq", dataset.num(field)))
        elif ftype == FeatureType.FLOAT and field in (numerical_features or ()):
            specs.append(FieldSpec(field, "float_pair", dataset.num(field)))
        elif ftype == FeatureType.FLOAT:
            specs.append(FieldSpec(field, "float"))
        else:
            raise ValueError(
                f"field '{field}' has type {ftype.value}; a tower takes token, token_seq and float fields"
            )
    return specs


class FeatureTower(nn.Module):
    """Field embeddings -> concatenation -> MLP -> L2 normalisation.

    Args:
        specs (list of FieldSpec): the tower's input fields, in a fixed order (field masks index it).
        embedding_size (int): dimension of every field embedding.
        hidden_sizes (list of int): hidden MLP layer sizes (may be empty).
        output_size (int): dimension of the tower's output.
        dropout (float): dropout before every MLP layer (training only).
    """

    def __init__(self, specs, embedding_size, hidden_sizes, output_size, dropout=0.0):
        super().__init__()
        if not specs:
            raise ValueError("a tower needs at least one input field")
        for spec in specs:
            if spec.kind not in KINDS:
                raise ValueError(f"field '{spec.name}': unknown kind '{spec.kind}'")
        self.specs = list(specs)
        self.embedding_size = embedding_size
        self.embeddings = nn.ModuleDict()
        for spec in self.specs:
            if spec.kind in ("token", "token_seq", "float_pair"):
                self.embeddings[spec.name] = nn.Embedding(max(spec.vocab, 1), embedding_size)
            else:
                self.embeddings[spec.name] = nn.Linear(1, embedding_size)
        # Sec. 3.3 of Yao et al.: one learned default embedding per field stands in for a masked value.
        self.default_embedding = nn.Parameter(torch.empty(len(self.specs), embedding_size))
        layers, width = [], len(self.specs) * embedding_size
        for size in list(hidden_sizes):
            layers += [nn.Dropout(dropout), nn.Linear(width, size), nn.ReLU()]
            width = size
        layers += [nn.Dropout(dropout), nn.Linear(width, output_size)]
        self.mlp = nn.Sequential(*layers)
        self.reset_parameters()

    def reset_parameters(self):
        for module in self.modules():
            if isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, std=0.1)
            elif isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        nn.init.normal_(self.default_embedding, std=0.1)

    @property
    def num_fields(self):
        return len(self.specs)

    def _embed_field(self, spec, values, keep):
        """``(B, d)`` embedding of one field and ``(B,)`` bool ``present`` (False: use the default)."""
        table = self.embeddings[spec.name]
        if spec.kind == "token":
            values = values.reshape(-1)
            return table(values), values != 0
        if spec.kind == "token_seq":
            valid = values != 0
            if keep is not None:
                valid = valid & keep
            weights = valid.to(table.weight.dtype)
            counts = weights.sum(dim=1, keepdim=True)
            # the weighted sum of the kept values' embeddings in one fused kernel (no (B, L, d) intermediate)
            summed = F.embedding_bag(values, table.weight, mode="sum", per_sample_weights=weights)
            return summed / counts.clamp(min=1), counts.squeeze(1) > 0
        if spec.kind == "float_pair":
            value, bucket = values[..., 0], values[..., 1].long()
            return value.unsqueeze(-1) * table(bucket), torch.ones_like(value, dtype=torch.bool)
        values = values.reshape(-1, 1).to(table.weight.dtype)
        return table(values), torch.ones(values.shape[0], dtype=torch.bool, device=values.device)

    def field_embeddings(self, features, field_mask=None, value_keep=None):
        """``(B, F, d)`` field embeddings with masked or missing fields replaced by their defaults.

        Args:
            features (dict): field name -> ``(B, ...)`` tensor (rows of the feature table).
            field_mask (torch.BoolTensor): ``(B, F)``, True where a field is masked; ``None`` masks nothing.
            value_keep (dict): field name -> ``(B, L)`` bool for multi-valued fields (values a view keeps).
        """
        value_keep = value_keep or {}
        embedded, present = [], []
        for spec in self.specs:
            emb, has = self._embed_field(spec, features[spec.name], value_keep.get(spec.name))
            embedded.append(emb)
            present.append(has)
        embedded = torch.stack(embedded, dim=1)
        use_default = ~torch.stack(present, dim=1)
        if field_mask is not None:
            use_default = use_default | field_mask
        # lerp with a 0/1 weight picks the default (0) or the field's embedding (1) exactly, as torch.where
        # would, in a fraction of where's time on CPU (forward and backward)
        keep = (~use_default).unsqueeze(-1).to(embedded.dtype)
        return torch.lerp(self.default_embedding.unsqueeze(0).expand_as(embedded), embedded, keep)

    def forward(self, features, field_mask=None, value_keep=None):
        """``(B, output_size)`` L2-normalised tower outputs."""
        fields = self.field_embeddings(features, field_mask, value_keep)
        return F.normalize(self.mlp(fields.flatten(start_dim=1)), dim=-1)
