"""Feature embeddings of users and items from RecBole's atomic ``.user`` / ``.item`` files.

Shared by the meta-learners (MeLU; the metric-based learners embed with the same code). Each configured field
becomes one ``embedding_size`` vector and the vectors are concatenated, as MeLU's user and item embeddings
(Lee et al., KDD 2019, Section 4.1, Eq. 1-2: one embedding matrix per content type, multi-valued contents such as
genres averaged):

* ``token`` fields (gender, age, occupation, release year, or the id itself): an embedding lookup;
* ``token_seq`` fields (genres): the mean of the embeddings of the entity's tokens (zero when it has none);
* ``float`` fields: the value times a learned vector plus a learned bias.

An embedding row that training can never update is noise at test time. With ``mask_unseen_tokens`` every token
value that no *known* entity (a training user, an existing item) carries is mapped to RecBole's padding id 0,
whose embedding is zero; listing the id field itself (``item_id``) as a feature embeds only known ids.

The two-tower model embeds fields with :class:`recbole_meta.model.layers.feature_tower.FeatureTower` instead:
there a missing or masked field takes a *learned* default embedding (the SSL views mask fields), values arrive
as rows of the feature table rather than entity ids, and the initialisation differs; one module serving both
would change one model's seeded results.
"""

import numpy as np
import torch
from recbole.utils import FeatureType
from torch import nn

from recbole_meta.data.feature_fields import feature_file, loaded_feature_fields

_SUPPORTED = (FeatureType.TOKEN, FeatureType.TOKEN_SEQ, FeatureType.FLOAT)


def feature_fields(dataset, source, fields):
    """The feature fields to embed for ``source`` (``'user'`` / ``'item'``), checked against the dataset.

    ``fields=None`` means every loaded field of that file except the id. Raises ``ValueError`` naming the option
    and the file when a configured field was not loaded (:func:`~recbole_meta.data.feature_fields.loaded_feature_fields`),
    and for field types that cannot be embedded.
    """
    fields = loaded_feature_fields(dataset, source, fields, f"{source}_features")
    path = feature_file(dataset, source)
    for field in fields:
        ftype = dataset.field2type[field]
        if ftype not in _SUPPORTED:
            raise ValueError(
                f"{source}_features: field '{field}' in {path} has type {ftype.value}; supported: "
                + ", ".join(t.value for t in _SUPPORTED)
            )
    return list(fields)


class FeatureEncoder(nn.Module):
    """Concatenated per-field embeddings of an entity, looked up by remapped id.

    Args:
        dataset (Dataset): a loaded RecBole dataset (features as ``Interaction``).
        source (str): ``'user'`` or ``'item'``.
        fields (list of str or None): fields to embed (``None``: every loaded field of the file).
        embedding_size (int): size of each field's vector.
        known (np.ndarray of bool, optional): per entity id, whether it is known in training; see the module
            docstring. ``None`` treats every entity as known.
        mask_unseen_tokens (bool): map token values that no known entity has to the padding id.
    """

    def __init__(self, dataset, source, fields, embedding_size, known=None, mask_unseen_tokens=True):
        super().__init__()
        if source not in ("user", "item"):
            raise ValueError(f"source must be 'user' or 'item', got {source!r}")
        self.source = source
        self.fields = feature_fields(dataset, source, fields)
        self.embedding_size = embedding_size
        id_field = dataset.uid_field if source == "user" else dataset.iid_field
        n_entities = dataset.user_num if source == "user" else dataset.item_num
        feat = dataset.user_feat if source == "user" else dataset.item_feat
        known = np.ones(n_entities, dtype=bool) if known is None else np.asarray(known, dtype=bool)
        self.types = {}
        self.embeddings = nn.ModuleDict()
        for field in self.fields:
            ftype = dataset.field2type[field]
            self.types[field] = ftype
            if field == id_field:
                table = torch.arange(n_entities)
                table[~torch.as_tensor(known)] = 0
            else:
                table = feat[field].clone()
            if ftype in (FeatureType.TOKEN, FeatureType.TOKEN_SEQ):
                table = table.long()
                if mask_unseen_tokens and field != id_field:
                    seen = torch.zeros(dataset.num(field), dtype=torch.bool)
                    seen[table[torch.as_tensor(known)].reshape(-1)] = True
                    seen[0] = True
                    table = torch.where(seen[table], table, torch.zeros_like(table))
                self.embeddings[field] = nn.Embedding(dataset.num(field), embedding_size, padding_idx=0)
            else:
                table = table.to(torch.get_default_dtype())
                self.embeddings[field] = nn.Linear(1, embedding_size)
            self.register_buffer(self._buffer(field), table, persistent=False)

    @staticmethod
    def _buffer(field):
        return f"table_{field}"

    @property
    def output_size(self):
        return len(self.fields) * self.embedding_size

    def forward(self, ids):
        """Embeddings of entities ``ids`` (any shape ``[...]``) -> ``[..., output_size]``."""
        parts = []
        for field in self.fields:
            table = getattr(self, self._buffer(field))
            # index_select, not table[ids]: a 0-d index under vmap would need .item()
            values = table.index_select(0, ids.flatten()).reshape(tuple(ids.shape) + tuple(table.shape[1:]))
            embedding = self.embeddings[field]
            ftype = self.types[field]
            if ftype == FeatureType.TOKEN:
                parts.append(embedding(values))
            elif ftype == FeatureType.TOKEN_SEQ:
                present = (values != 0).to(embedding.weight.dtype).unsqueeze(-1)
                total = (embedding(values) * present).sum(dim=-2)
                parts.append(total / present.sum(dim=-2).clamp(min=1.0))
            else:
                parts.append(embedding(values.unsqueeze(-1).to(embedding.weight.dtype)))
        if not parts:
            return torch.zeros(*ids.shape, 0, device=ids.device)
        return torch.cat(parts, dim=-1)
