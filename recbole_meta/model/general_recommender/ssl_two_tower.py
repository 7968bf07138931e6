r"""SSLTwoTower: two-tower retrieval trained with a logQ-corrected in-batch softmax plus a self-supervised
contrastive loss on the item tower over feature-masked views.

Reference:
    Tiansheng Yao, Xinyang Yi, Derek Zhiyuan Cheng, Felix Yu, Ting Chen, Aditya Menon, Lichan Hong, Ed H. Chi,
    Steve Tjoa, Jieqi Kang, Evan Ettinger. "Self-supervised Learning for Large-scale Item Recommendations."
    CIKM 2021.
    Xinyang Yi, Ji Yang, Lichan Hong, Derek Zhiyuan Cheng, Lukasz Heldt, Aditee Kumthekar, Zhe Zhao, Li Wei,
    Ed Chi. "Sampling-Bias-Corrected Neural Modeling for Large Corpus Item Recommendations." RecSys 2019.

What each part implements:

* towers (:mod:`recbole_meta.model.layers.feature_tower`): user tower over the user id (optional) and user
  features, item tower over the item id (optional) and item features (``token``, ``token_seq``, ``float``);
  L2-normalised outputs; the score is ``s(u, i) = cos(u, i) / temperature``.
* main loss (Yi et al. Sec. 3; Yao et al. Sec. 3.2, the batch softmax of the two-tower model):
  ``L_main = -1/B sum_i log softmax_j(s(u_i, v_j) - log p_j)[i]`` over the batch's items, ``p_j`` from training
  counts (``logq: static``), from the streaming estimator of Yi et al. Algorithm 2 (``logq: streaming``) or
  absent (``logq: none``); accidental hits masked (:mod:`recbole_meta.model.layers.sampling_bias`).
* SSL loss (Yao et al. Sec. 3.1, the contrastive loss ``L_self``): a separate batch of ``ssl_batch_size``
  items drawn uniformly without replacement from the item corpus, two views per item
  (:mod:`recbole_meta.model.layers.feature_masking`: RFM, CFM by mutual information between the item features
  computed once from the item table -- the id is left out of the ranking and goes to a random view --, dropout
  of multi-valued values), both through the shared item tower;
  ``L_self = -1/N sum_i log softmax_j(<z_i, z'_j> / ssl_temperature)[i]``.
* total loss (Yao et al. Sec. 3.4, multi-task training): ``L = L_main + ssl_alpha * L_self``; the two parts are
  returned separately so that RecBole's trainer logs both.
* evaluation: ``full_sort_predict`` is one matrix product of the batch's user vectors with every item's tower
  output, computed once per evaluation and cached (the cache is dropped whenever the model switches between
  train and eval mode or loads weights).

Items never seen in training (``unseen_item_id: default``) have their id field replaced by the id field's
learned default embedding, the same one that stands in for a masked id in the SSL views: an untrained random id
embedding would only add noise. That is what lets the model score item-cold items from their features.
Without ``main_id_dropout`` the retrieval loss never sees that input (every training item has its id): with
SSL, the SSL views are the only place where an item is seen without its id, so the features-only path that
cold items take is trained for the item-item task alone. ``main_id_dropout: p`` masks the id of a share ``p`` of
the main batch's items (training only), so the retrieval loss trains that path too.
"""

import torch
import torch.nn.functional as F
from recbole.model.abstract_recommender import GeneralRecommender
from recbole.utils import InputType

from recbole_meta.data.feature_fields import feature_file, loaded_feature_fields
from recbole_meta.distributed.gather import gather_rows_with_grad
from recbole_meta.distributed.in_batch import check_scope, in_batch_candidates
from recbole_meta.distributed.sharding import global_mean_loss, shard_bounds
from recbole_meta.input_checks import check_option
from recbole_meta.model.layers.feature_correlation import mutual_information_matrix
from recbole_meta.model.layers.feature_masking import FeatureMasker, parse_augmentations
from recbole_meta.model.layers.feature_tower import FeatureTower, field_specs
from recbole_meta.model.layers.sampling_bias import (
    StreamingFrequencyEstimator,
    in_batch_logits,
    static_log_frequency,
)
from recbole_meta.registry import register_model

LOGQ_MODES = ("static", "streaming", "none")


def _logq_mode(value):
    mode = "none" if value in (None, False) else str(value).lower()
    if mode not in LOGQ_MODES:
        raise ValueError(f"logq: expected one of {', '.join(LOGQ_MODES)} (got {value!r})")
    return mode


@register_model
class SSLTwoTower(GeneralRecommender):
    r"""Two-tower retrieval with logQ-corrected in-batch softmax and item-tower self-supervision (Yao et al.)."""

    input_type = InputType.POINTWISE

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self._item_cache = None
        self.temperature = float(check_option(config, "temperature", "positive number"))
        self.ssl_alpha = float(config["ssl_alpha"])
        if self.ssl_alpha < 0:
            raise ValueError(f"ssl_alpha must be >= 0 (got {self.ssl_alpha}); 0 switches the SSL loss off")
        self.logq = _logq_mode(config["logq"])
        self.in_batch_negatives = check_scope(config["in_batch_negatives"])

        # ---------------------------------------------------------------------------------- towers
        user_fields = self._tower_fields(dataset, "user", config)
        item_fields = self._tower_fields(dataset, "item", config)
        numerical = config["numerical_features"] or ()
        self.user_specs = field_specs(dataset, user_fields, numerical)
        self.item_specs = field_specs(dataset, item_fields, numerical)
        self._register_table("user", dataset.get_user_feature(), self.user_specs)
        self._register_table("item", dataset.get_item_feature(), self.item_specs)
        tower_args = (
            config["embedding_size"],
            list(config["tower_hidden_sizes"] or []),
            config["output_size"],
            config["tower_dropout"] or 0.0,
        )
        self.user_tower = FeatureTower(self.user_specs, *tower_args)
        self.item_tower = FeatureTower(self.item_specs, *tower_args)

        # --------------------------------------------------------------- training item frequencies
        item_counts = torch.bincount(dataset.inter_feat[self.ITEM_ID].long(), minlength=self.n_items)
        self.register_buffer("item_seen", item_counts > 0, persistent=False)
        self._id_position = item_fields.index(self.ITEM_ID) if self.ITEM_ID in item_fields else None
        if (config["unseen_item_id"] or "default") not in ("default", "embedding"):
            raise ValueError(
                f"unseen_item_id: expected default or embedding (got {config['unseen_item_id']!r})"
            )
        self.mask_unseen_id = (config["unseen_item_id"] or "default") == "default"
        self.main_id_dropout = float(config["main_id_dropout"] or 0.0)
        if not 0.0 <= self.main_id_dropout < 1.0:
            raise ValueError(f"main_id_dropout must be in [0, 1) (got {config['main_id_dropout']})")
        if self.main_id_dropout > 0 and self._id_position is None:
            raise ValueError(
                "main_id_dropout > 0 needs the item id in the item tower (item_id_in_tower: True)"
            )
        # Draws of the id dropout of the main loss, seeded from the run's seed (global RNG untouched).
        self._main_generator = torch.Generator().manual_seed(int(config["seed"]) + 1)
        if self.logq == "static":
            self.register_buffer("log_q_static", static_log_frequency(item_counts), persistent=False)
        elif self.logq == "streaming":
            self.frequency_estimator = StreamingFrequencyEstimator(
                hash_size=config["logq_hash_size"],
                num_hashes=config["logq_num_hashes"],
                alpha=config["logq_stream_alpha"],
                seed=config["seed"],
            )

        # -------------------------------------------------------------------------------------- SSL
        if self.ssl_alpha > 0:
            self._init_ssl(config, dataset, item_fields, item_counts)

    # ---------------------------------------------------------------------------------- construction
    def _tower_fields(self, dataset, side, config):
        """The tower's input fields: the id (if ``<side>_id_in_tower``) then the configured features."""
        id_field = self.USER_ID if side == "user" else self.ITEM_ID
        file = feature_file(dataset, side)
        option = f"{side}_feature_fields"
        features = loaded_feature_fields(dataset, side, config[option], option)
        if id_field in features:
            raise ValueError(f"{option} lists the id field {id_field}; set {side}_id_in_tower: True instead")
        if side == "item" and self.ssl_alpha > 0 and not features:
            raise ValueError(
                f"ssl_alpha={self.ssl_alpha} needs item features for its masked views, but dataset "
                f"'{dataset.dataset_name}' has none ({file} missing or not in load_col); add item features or "
                "set ssl_alpha: 0 (the towers then train on ids alone)"
            )
        fields = ([id_field] if config[f"{side}_id_in_tower"] else []) + features
        if not fields:
            raise ValueError(
                f"the {side} tower has no input: set {side}_id_in_tower: True or load {side} features ({file})"
            )
        return fields

    def _register_table(self, side, table, specs):
        """Keep the feature table rows (indexed by id) as non-persistent buffers: ``<side>_table_<field>``."""
        for spec in specs:
            self.register_buffer(f"{side}_table_{spec.name}", table[spec.name].clone(), persistent=False)

    def _rows(self, side, ids):
        specs = self.user_specs if side == "user" else self.item_specs
        return {spec.name: getattr(self, f"{side}_table_{spec.name}")[ids] for spec in specs}

    def _init_ssl(self, config, dataset, item_fields, item_counts):
        self.ssl_temperature = float(check_option(config, "ssl_temperature", "positive number"))
        corpus_kind = (config["ssl_item_corpus"] or "train").lower()
        if corpus_kind == "train":
            corpus = torch.nonzero(item_counts > 0).squeeze(1)
        elif corpus_kind == "all":
            corpus = torch.arange(1, self.n_items)
        else:
            raise ValueError(f"ssl_item_corpus: expected train or all (got {config['ssl_item_corpus']!r})")
        self.ssl_batch_size = int(config["ssl_batch_size"])
        if not 2 <= self.ssl_batch_size <= len(corpus):
            raise ValueError(
                f"ssl_batch_size={self.ssl_batch_size} must be between 2 and the size of the SSL item corpus "
                f"({len(corpus)} items, ssl_item_corpus: {corpus_kind}); sampling is without replacement"
            )
        self.register_buffer("ssl_corpus", corpus, persistent=False)
        augment = parse_augmentations(config["ssl_augment"])
        mutual_info = None
        if "cfm" in augment:
            # Mutual information between the item *features* (the id is left out of CFM's ranking, see
            # feature_masking), over the SSL item corpus.
            features = [s for s in self.item_specs if s.name != self.ITEM_ID]
            kinds = [{"float_pair": "float"}.get(s.kind, s.kind) for s in features]
            rows = self._rows("item", corpus)
            columns = [rows[s.name].cpu().numpy() for s in features]
            mutual_info = mutual_information_matrix(columns, kinds, n_bins=config["cfm_float_bins"] or 10)
        self.item_mutual_information = mutual_info
        self.masker = FeatureMasker(
            len(item_fields),
            augment,
            mutual_info,
            dropout_rate=config["ssl_dropout_rate"],
            id_position=self._id_position,
        )
        # One generator for every random draw of the SSL task, seeded from the run's seed.
        self._ssl_generator = torch.Generator().manual_seed(int(config["seed"]))

    # --------------------------------------------------------------------------------------- towers
    def user_embedding(self, user_ids):
        return self.user_tower(self._rows("user", user_ids))

    def _unseen_mask(self, item_ids):
        """``(B, F)`` field mask hiding the id of items never seen in training (or ``None``)."""
        if self._id_position is None or not self.mask_unseen_id:
            return None
        mask = torch.zeros(len(item_ids), len(self.item_specs), dtype=torch.bool, device=item_ids.device)
        mask[:, self._id_position] = ~self.item_seen[item_ids]
        return mask

    def item_embedding(self, item_ids, field_mask=None, value_keep=None):
        base = self._unseen_mask(item_ids)
        if field_mask is not None:
            base = field_mask if base is None else base | field_mask
        return self.item_tower(self._rows("item", item_ids), base, value_keep)

    # ---------------------------------------------------------------------------------------- losses
    def log_q(self, item_ids, stream_ids=None):
        """``log p_j`` of ``item_ids`` for the logQ correction (``None`` for ``logq: none``).

        The streaming estimator is updated first with the step's batch, ``stream_ids`` (default ``item_ids``; the
        whole global batch in a multi-process run): it is the estimate at this step.
        """
        if self.logq == "static":
            return self.log_q_static[item_ids]
        if self.logq == "streaming":
            if self.training:
                self.frequency_estimator.update(item_ids if stream_ids is None else stream_ids)
            return self.frequency_estimator.log_probability(item_ids)
        return None

    def _main_id_mask(self, items):
        """``(B, F)`` mask hiding the id of a random share ``main_id_dropout`` of the main batch's items (training
        only; ``None`` otherwise): the input an item never seen in training gets, so the retrieval loss also
        trains the features-only path."""
        if not (self.training and self.main_id_dropout > 0):
            return None
        id_dropped = torch.zeros(len(items), len(self.item_specs), dtype=torch.bool)
        id_dropped[:, self._id_position] = (
            torch.rand(len(items), generator=self._main_generator) < self.main_id_dropout
        )
        return id_dropped.to(items.device)

    def main_loss(self, interaction, item_vectors=None):
        """``L_main``; ``item_vectors``: the batch's item-tower outputs when already computed (``calculate_loss``
        encodes them in one pass with the SSL views)."""
        users, items = interaction[self.USER_ID], interaction[self.ITEM_ID]
        if item_vectors is None:
            item_vectors = self.item_embedding(items, self._main_id_mask(items))
        # Multi-process runs: negatives from this rank's batch or every rank's (recbole_meta.distributed.in_batch).
        batch = in_batch_candidates(item_vectors, items, self.in_batch_negatives)
        log_q = self.log_q(batch.ids, batch.stream_ids)
        logits = in_batch_logits(
            self.user_embedding(users), batch.vectors, batch.ids, self.temperature, log_q, batch.positive
        )
        losses = F.cross_entropy(logits, batch.positive, reduction="none")
        return global_mean_loss(losses, batch.total_rows)

    def sample_ssl_items(self):
        """``ssl_batch_size`` item ids drawn uniformly without replacement from the SSL corpus."""
        picks = torch.randperm(len(self.ssl_corpus), generator=self._ssl_generator)[: self.ssl_batch_size]
        return self.ssl_corpus[picks.to(self.ssl_corpus.device)]

    def ssl_views(self, item_ids):
        """Field masks ``(2N, F)`` and value-keep masks (multi-valued field -> ``(2N, L)``) of the two views of
        ``N`` items: rows ``0..N-1`` are view 1, rows ``N..2N-1`` view 2 (complementary field masks)."""
        view1, view2 = self.masker.field_masks(len(item_ids), self._ssl_generator)
        keep = {}
        for spec in self.item_specs if "dropout" in self.masker.augment else ():
            if spec.multi_valued:
                values = getattr(self, f"item_table_{spec.name}")[item_ids]
                drawn = self.masker.value_keep(values.repeat(2, 1), self._ssl_generator)
                if drawn is not None:
                    keep[spec.name] = drawn
        return torch.cat([view1, view2]), keep

    def _ssl_share(self, item_ids=None):
        """The item-tower inputs of this process's share of the SSL views: ids ``(2n,)``, field masks ``(2n, F)``,
        value-keep masks, and ``(start, end, total)`` (rows ``start..end`` of the ``total`` SSL items).

        Multi-process runs: every rank draws the same items and views (same seed) and encodes its share; the
        second views of all shares are gathered (recbole_meta.distributed). One process: all of them.
        """
        item_ids = self.sample_ssl_items() if item_ids is None else item_ids
        view_mask, view_keep = self.ssl_views(item_ids)
        total, (start, end) = len(item_ids), shard_bounds(len(item_ids))
        both = item_ids.repeat(2)
        if end - start < total:
            rows = torch.cat([torch.arange(start, end), torch.arange(total + start, total + end)])
            rows = rows.to(item_ids.device)
            both, view_mask = both[rows], view_mask[rows]
            view_keep = {name: keep[rows] for name, keep in view_keep.items()}
        return both, view_mask, view_keep, (start, end, total)

    def _ssl_loss_of_views(self, view_vectors, start, end, total):
        """``L_self`` from the item-tower outputs ``(2n, d)`` of this process's share (view 1 rows, then view 2)."""
        z1, z2 = view_vectors.split(end - start)
        logits = z1 @ gather_rows_with_grad(z2).t() / self.ssl_temperature
        positive = torch.arange(start, end, device=logits.device)
        return global_mean_loss(F.cross_entropy(logits, positive, reduction="none"), total)

    def ssl_loss(self, item_ids=None):
        """``L_self`` on ``item_ids`` (default: a uniform SSL batch); both views in one item-tower pass."""
        ids, mask, keep, bounds = self._ssl_share(item_ids)
        return self._ssl_loss_of_views(self.item_embedding(ids, mask, keep), *bounds)

    def calculate_loss(self, interaction):
        """``L_main`` and ``ssl_alpha * L_self``. The main batch's items and the SSL views go through the item
        tower in one pass (one call per layer and one embedding-table gradient instead of two): the same
        losses as :meth:`main_loss` and :meth:`ssl_loss` computed apart, for less per-step overhead."""
        if self.ssl_alpha == 0:
            return self.main_loss(interaction)
        items = interaction[self.ITEM_ID]
        view_ids, view_mask, view_keep, bounds = self._ssl_share()
        main_mask = self._main_id_mask(items)
        if main_mask is None:
            main_mask = torch.zeros(len(items), len(self.item_specs), dtype=torch.bool, device=items.device)
        keep = {}
        for name, view_values in view_keep.items():  # the main batch's items keep every value
            keep[name] = torch.cat([view_values.new_ones(len(items), view_values.shape[1]), view_values])
        vectors = self.item_embedding(torch.cat([items, view_ids]), torch.cat([main_mask, view_mask]), keep)
        main = self.main_loss(interaction, vectors[: len(items)])
        return main, self.ssl_alpha * self._ssl_loss_of_views(vectors[len(items) :], *bounds)

    # ------------------------------------------------------------------------------------ prediction
    def predict(self, interaction):
        users, items = interaction[self.USER_ID], interaction[self.ITEM_ID]
        return (self.user_embedding(users) * self.item_embedding(items)).sum(dim=-1) / self.temperature

    def all_item_embeddings(self, chunk_size=8192):
        """Every item's tower output ``(n_items, d)``, computed once per evaluation and cached."""
        if self._item_cache is None:
            with torch.no_grad():
                ids = torch.arange(self.n_items, device=self.item_seen.device)
                self._item_cache = torch.cat([self.item_embedding(c) for c in ids.split(chunk_size)])
        return self._item_cache

    def full_sort_predict(self, interaction):
        users = self.user_embedding(interaction[self.USER_ID])
        return (users @ self.all_item_embeddings().t() / self.temperature).reshape(-1)

    def train(self, mode=True):
        self._item_cache = None
        return super().train(mode)

    def load_state_dict(self, state_dict, strict=True, assign=False):
        self._item_cache = None
        return super().load_state_dict(state_dict, strict=strict, assign=assign)
