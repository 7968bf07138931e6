"""Feature-level augmentations that turn one batch of items into two views for contrastive learning.

Reference:
    Tiansheng Yao et al. "Self-supervised Learning for Large-scale Item Recommendations." CIKM 2021,
    Sec. 3.3 (Feature-level augmentations):

    * Random Feature Masking (RFM): the fields are split at random into two complementary halves; view 1 masks
      one half, view 2 masks the other.
    * Correlated Feature Masking (CFM): a seed field is drawn at random and masked in view 1 together with the
      fields most correlated with it (mutual information, see :mod:`feature_correlation`); view 2 masks the
      rest. Masking correlated fields together keeps the model from reading a masked field off its correlate.
      The item id, when it is a tower input, is left out of the mutual-information ranking and is never a
      seed: it goes to view 1 or view 2 by a fair coin per item (as under RFM). The id identifies the item,
      so ``MI(id, f) = H(f) >= MI(g, f)`` for every other field ``g``: ranked with the rest it would be the top
      correlate of every seed, and CFM would always mask the id with the seed, i.e. always pose the same
      "features against id" task instead of masking groups of features that describe each other.
    * Dropout for multi-valued fields: each value of a ``token_seq`` field is dropped with probability
      ``dropout_rate`` (0.5 in the paper), independently in each view.

    A masked field is replaced by its learned default embedding by the tower (:mod:`feature_tower`).

Under RFM view 1 masks ``ceil(F / 2)`` of the ``F`` fields and view 2 the other ``floor(F / 2)``. Under CFM view 1
masks ``ceil(G / 2)`` of the ``G`` feature fields (the seed and its top correlates; the id aside) and view 2 the
other features. Either way the views are complementary: every field is seen by exactly one view. RFM and CFM
are alternatives; either can be combined with ``dropout``. All randomness comes from the ``torch.Generator``
passed in, so a run is reproducible from its seed without touching global random state.
"""

import math

import numpy as np
import torch
from torch import nn

FIELD_AUGMENTATIONS = ("rfm", "cfm")
AUGMENTATIONS = FIELD_AUGMENTATIONS + ("dropout",)


def parse_augmentations(augment):
    """Validate ``ssl_augment`` (a name or a list of names) and return it as a tuple."""
    names = (augment,) if isinstance(augment, str) else tuple(augment or ())
    names = tuple(str(a).lower() for a in names)
    unknown = [a for a in names if a not in AUGMENTATIONS]
    if unknown or not names:
        raise ValueError(
            f"ssl_augment: expected a non-empty list of {', '.join(AUGMENTATIONS)} (got {augment!r})"
        )
    if sum(a in FIELD_AUGMENTATIONS for a in names) > 1:
        raise ValueError(f"ssl_augment: rfm and cfm are alternatives, pick one (got {augment!r})")
    return names


def correlated_groups(mutual_info, n_masked):
    """For every possible seed field, the fields view 1 masks under CFM: the seed and its top correlates.

    Args:
        mutual_info (numpy.ndarray): ``(F, F)`` pairwise mutual information.
        n_masked (int): how many fields view 1 masks (seed included).

    Returns:
        numpy.ndarray: ``(F, F)`` bool; row ``s`` is the mask of view 1 when ``s`` is the seed. Ties in mutual
        information go to the field listed first.
    """
    mutual_info = np.asarray(mutual_info, dtype=np.float64)
    n_fields = mutual_info.shape[0]
    groups = np.zeros((n_fields, n_fields), dtype=bool)
    for seed in range(n_fields):
        others = [f for f in range(n_fields) if f != seed]
        ranked = sorted(others, key=lambda f: -mutual_info[seed, f])  # sorted() is stable: ties keep order
        groups[seed, [seed] + ranked[: n_masked - 1]] = True
    return groups


class FeatureMasker(nn.Module):
    """Draws the field masks and value-dropout masks of the two views.

    Args:
        num_fields (int): ``F``, the number of fields of the item tower (the item id counts as one).
        augment (str or list): ``ssl_augment``, see :func:`parse_augmentations`.
        mutual_info (numpy.ndarray): ``(G, G)`` mutual information between the feature fields (every field
            except ``id_position``, in tower order), needed for ``cfm``.
        dropout_rate (float): probability that ``dropout`` removes a value of a multi-valued field.
        id_position (int): the item id's field position, or ``None`` when the id is not a tower input. CFM
            leaves it out of the ranking and puts it in either view by a fair coin (see the module docstring).
    """

    def __init__(self, num_fields, augment, mutual_info=None, dropout_rate=0.5, id_position=None):
        super().__init__()
        self.augment = parse_augmentations(augment)
        self.num_fields = int(num_fields)
        self.n_masked = math.ceil(self.num_fields / 2)
        if any(a in FIELD_AUGMENTATIONS for a in self.augment) and self.num_fields < 2:
            raise ValueError(
                f"ssl_augment {list(self.augment)}: field masking needs at least 2 item-tower fields "
                f"(got {self.num_fields}); add item features or use ssl_augment: [dropout]"
            )
        if not 0.0 <= dropout_rate < 1.0:
            raise ValueError(f"ssl_dropout_rate must be in [0, 1) (got {dropout_rate})")
        self.dropout_rate = float(dropout_rate)
        if id_position is not None and not 0 <= id_position < self.num_fields:
            raise ValueError(f"id_position {id_position} is not one of the {self.num_fields} fields")
        self.id_position = id_position
        features = [f for f in range(self.num_fields) if f != id_position]
        groups = np.zeros((len(features), self.num_fields), dtype=bool)  # row s: view 1's mask for seed s
        if "cfm" in self.augment:
            if len(features) < 2:
                raise ValueError(
                    "ssl_augment cfm: correlated masking needs at least 2 item feature fields besides the "
                    f"item id (got {len(features)}); add item features or use ssl_augment: [rfm]"
                )
            if mutual_info is None or np.shape(mutual_info) != (len(features), len(features)):
                raise ValueError(
                    f"cfm needs a ({len(features)}, {len(features)}) mutual information matrix over the "
                    "item feature fields (the item id excluded)"
                )
            groups[:, features] = correlated_groups(mutual_info, math.ceil(len(features) / 2))
        self.register_buffer("cfm_groups", torch.as_tensor(groups), persistent=False)

    def field_masks(self, batch_size, generator):
        """Masks of view 1 and view 2, ``(batch_size, F)`` bool each (True = masked), complementary for rfm/cfm.

        Without rfm or cfm no field is masked in either view.
        """
        device = self.cfm_groups.device
        if "rfm" in self.augment:
            order = torch.rand(batch_size, self.num_fields, generator=generator).argsort(dim=1)
            view1 = torch.zeros(batch_size, self.num_fields, dtype=torch.bool)
            view1.scatter_(1, order[:, : self.n_masked], True)
            view1 = view1.to(device)
        elif "cfm" in self.augment:
            seeds = torch.randint(len(self.cfm_groups), (batch_size,), generator=generator)
            view1 = self.cfm_groups[seeds.to(device)]
            if self.id_position is not None:
                view1[:, self.id_position] = (torch.rand(batch_size, generator=generator) < 0.5).to(device)
        else:
            none = torch.zeros(batch_size, self.num_fields, dtype=torch.bool, device=device)
            return none, none.clone()
        return view1, ~view1

    def value_keep(self, values, generator):
        """Which values of a padded multi-valued field a view keeps: ``(B, L)`` bool, or ``None`` (keep all)."""
        if "dropout" not in self.augment:
            return None
        keep = torch.rand(values.shape, generator=generator) >= self.dropout_rate
        return keep.to(values.device)
