"""Feature-level augmentations that turn one batch of items into two views for contrastive learning.

Reference:
    Tiansheng Yao et al. "Self-supervised Learning for Large-scale Item Recommendations." CIKM 2021,
    Sec. 3.3 (Feature-level augmentations):

    * Random Feature Masking (RFM): the fields are split at random into two complementary halves; view 1 masks
      one half, view 2 masks the other.
    * Correlated Feature Masking (CFM): a seed field is drawn at random and masked in view 1 together with the
      fields most correlated with it (mutual information, see :mod:`feature_correlation`); view 2 masks the
      rest. Masking correlated fields together keeps the model from reading a masked field off its correlate.
    * Dropout for multi-valued fields: each value of a ``token_seq`` field is dropped with probability
      ``dropout_rate`` (0.5 in the paper), independently in each view.

    A masked field is replaced by its learned default embedding by the tower (:mod:`feature_tower`).

View 1 masks ``ceil(F / 2)`` of the ``F`` fields and view 2 the other ``floor(F / 2)``, so every field is seen by
exactly one view and, for ``F >= 3``, the CFM seed always has at least one correlated companion. RFM and CFM
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
        mutual_info (numpy.ndarray): ``(F, F)`` mutual information, needed for ``cfm``.
        dropout_rate (float): probability that ``dropout`` removes a value of a multi-valued field.
    """

    def __init__(self, num_fields, augment, mutual_info=None, dropout_rate=0.5):
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
        groups = np.zeros((self.num_fields, self.num_fields), dtype=bool)
        if "cfm" in self.augment:
            if mutual_info is None or np.shape(mutual_info) != (self.num_fields, self.num_fields):
                raise ValueError(
                    f"cfm needs a ({self.num_fields}, {self.num_fields}) mutual information matrix"
                )
            groups = correlated_groups(mutual_info, self.n_masked)
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
            seeds = torch.randint(self.num_fields, (batch_size,), generator=generator).to(device)
            view1 = self.cfm_groups[seeds]
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
