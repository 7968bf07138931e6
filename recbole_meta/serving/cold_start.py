"""Cold-start inference: what will a user like, given their profile and a few ratings?

The question an episodic model (MeLU, MatchingNet, ProtoRec) exists for (Lee et al., KDD 2019, Section 3.3 and
Algorithm 1's local update): a user, possibly in no file, gives their profile (the tokens of the atomic ``.user``
file's fields) and rates a few items; the model adapts to those ratings exactly as at test time and predicts.
:class:`ColdStartRecommender` does that with the trained model and the same adaptation code as
:class:`~recbole_meta.trainer.meta_trainer.MetaTrainer` (:meth:`MAML.from_config
<recbole_meta.trainer.maml.MAML.from_config>`, :meth:`~recbole_meta.trainer.maml.MAML.predict_query_and_items`,
the same clipping), so a known test user's support gives the predictions the test reported.

A new user's profile becomes one more row of the model's user feature tables, built as the tables were: raw
token -> the dataset's id; with ``mask_unseen_tokens``, a token no training user carries -> padding, as for a
test user. Everything that cannot be used is reported by name: feature tokens the dataset never saw and profile
fields the model does not use (as notes, the token then counts as missing), unknown items (an error, nothing is
predicted). The onboarding flow asks first about MeLU's evidence candidates (:mod:`recbole_meta.model.meta_recommender.evidence`), the
items whose ratings move the personalised parameters most; models without a local update ask about the most
rated items.
"""

import contextlib
import os
from dataclasses import dataclass, field

import numpy as np
import torch
from recbole.utils import FeatureType

from recbole_meta.data.episodes import one_task_batch
from recbole_meta.data.feature_fields import feature_file
from recbole_meta.model.layers.feature_encoder import FeatureEncoder
from recbole_meta.model.meta_recommender import MetaRecommender
from recbole_meta.model.meta_recommender.evidence import item_titles, select_evidence_candidates
from recbole_meta.trainer.maml import MAML

ASK_STRATEGIES = ("auto", "evidence", "popular")


class UnknownItemsError(ValueError):
    """Items named by raw token that the dataset does not have; ``items`` lists them."""

    def __init__(self, items, where):
        self.items = list(items)
        super().__init__(
            f"unknown item(s) {', '.join(repr(i) for i in self.items)}: not in {where} (give raw item tokens "
            "as in the .inter / .item files)"
        )


@dataclass
class Recommendation:
    """What :meth:`ColdStartRecommender.recommend` returns.

    ``predictions``: ``{item token: predicted rating}`` for the items asked about; ``top``: the top-k of the
    catalogue minus the rated items, best first, as ``(item token, predicted rating, title)``; ``notes``: what
    was not used and why; ``support``: the ratings adapted to, ``{item token: rating}``.
    """

    predictions: dict
    top: list
    support: dict
    notes: list = field(default_factory=list)


class ColdStartRecommender:
    """Predict for a known or a brand-new user of a trained episodic model; see the module docstring.

    Args:
        config (Config), model (MetaRecommender), dataset (ColdStartDataset): a trained run, as
            :func:`~recbole_meta.serving.saved_run.load_data_and_model` returns it.
    """

    def __init__(self, config, model, dataset):
        if not isinstance(model, MetaRecommender):
            raise TypeError(
                f"{type(model).__name__} is not an episodic model: recommend for its known users with RecBole's "
                "full_sort_topk (recbole.utils.case_study) after load_data_and_model"
            )
        self.config, self.model, self.dataset = config, model.eval(), dataset
        self.split = model.split
        self.maml = MAML.from_config(config, model)
        self.clip = bool(config["clip_predictions"])
        self.rating_range = (self.split.rating_min, self.split.rating_max)
        self.uid_field, self.iid_field = dataset.uid_field, dataset.iid_field
        self.user_encoders = [
            m for m in model.modules() if isinstance(m, FeatureEncoder) and m.source == "user"
        ]
        self.user_fields = list(dict.fromkeys(f for enc in self.user_encoders for f in enc.fields))
        self.file_fields = [] if dataset.user_feat is None else list(dataset.user_feat.columns)
        self._item_ids = dataset.field2token_id[self.iid_field]
        self._item_tokens = dataset.field2id_token[self.iid_field]

    @classmethod
    def from_checkpoint(cls, model_file, config_dict=None):
        """Load a trained episodic model (see :func:`~recbole_meta.serving.saved_run.load_data_and_model`)."""
        from recbole_meta.serving.saved_run import load_data_and_model

        config, model, dataset, *_ = load_data_and_model(model_file, config_dict)
        return cls(config, model, dataset)

    # ------------------------------------------------------------------------------------------ input
    def feature_file(self, source):
        """The atomic file of ``source`` (``'user'`` / ``'item'``), for messages."""
        return os.path.normpath(feature_file(self.dataset, source))

    def item_ids(self, tokens):
        """Remapped ids of raw item tokens; :class:`UnknownItemsError` names every unknown one."""
        tokens = [str(t) for t in tokens]
        unknown = [t for t in tokens if t not in self._item_ids or self._item_ids[t] == 0]
        if unknown:
            raise UnknownItemsError(unknown, f"dataset '{self.dataset.dataset_name}'")
        return [int(self._item_ids[t]) for t in tokens]

    def titles(self, ids):
        """Item titles (the first loaded of movie_title / title / name), ``None`` where there is none."""
        return item_titles(self.dataset, np.asarray(ids, dtype=np.int64), None)

    def known_user(self, token):
        """The remapped id of a user token in the dataset, or ``None`` for a user in no file."""
        user_id = self.dataset.field2token_id[self.uid_field].get(str(token))
        return None if not user_id else int(user_id)

    def check_ratings(self, ratings):
        """``(item ids, float ratings)`` of ``{item token: rating}``; unknown items, non-numbers and ratings
        outside ``rating_range`` are errors naming the item."""
        ratings = {str(item): rating for item, rating in dict(ratings or {}).items()}
        ids = self.item_ids(list(ratings))
        low, high = self.rating_range
        values = []
        for item, rating in ratings.items():
            try:
                value = float(rating)
            except (TypeError, ValueError):
                raise ValueError(f"rating of item {item!r} must be a number, got {rating!r}") from None
            if not np.isfinite(value) or (
                self.config["rating_range"] is not None and not low <= value <= high
            ):
                raise ValueError(f"rating of item {item!r} must be in [{low:g}, {high:g}], got {rating!r}")
            values.append(value)
        return ids, values

    def _seen_tokens(self, encoder, field_name):
        """Token ids that count for ``field_name`` at test time (all, or with masking those of training users)."""
        table = getattr(encoder, encoder._buffer(field_name))
        if not self.config["mask_unseen_tokens"]:
            return None
        known = torch.as_tensor(self.model.known_users())
        return set(table[known].reshape(-1).tolist()) | {0}

    def profile_row(self, features):
        """``({encoder: {field: row tensor}}, notes)``: a new user's row of each user feature table.

        ``features`` maps ``.user`` fields to raw tokens (a string; a token_seq field takes a list or a
        space-separated string; a float field a number).
        """
        features = dict(features or {})
        notes = []
        unknown_fields = [f for f in features if f not in self.file_fields or f == self.uid_field]
        if unknown_fields:
            raise ValueError(
                f"user feature(s) {unknown_fields} are not fields of {self.feature_file('user')} "
                f"(its fields: {[f for f in self.file_fields if f != self.uid_field]})"
            )
        for name in features:
            if name not in self.user_fields:
                notes.append(f"user feature {name}: the model does not use it (user_features), ignored")
        for name in self.user_fields:
            if name != self.uid_field and name not in features:
                notes.append(f"user feature {name}: not given, treated as missing")
        rows = {}
        for encoder in self.user_encoders:
            rows[encoder] = {}
            for name in encoder.fields:
                table = getattr(encoder, encoder._buffer(name))
                ftype = encoder.types[name]
                if name == self.uid_field:  # an id embedding: a new user's id was never trained
                    rows[encoder][name] = torch.zeros((), dtype=table.dtype)
                    continue
                if ftype == FeatureType.FLOAT:
                    rows[encoder][name] = self._float_value(name, features.get(name), table)
                    continue
                raw = features.get(name)
                tokens = [] if raw is None else raw.split() if isinstance(raw, str) else [str(t) for t in raw]
                if ftype == FeatureType.TOKEN and len(tokens) > 1:
                    raise ValueError(f"user feature {name} takes one token, got {tokens}")
                seen = self._seen_tokens(encoder, name)
                ids = []
                for token in tokens:
                    token_id = self.dataset.field2token_id[name].get(token, 0)
                    if token_id == 0:
                        notes.append(
                            f"user feature {name}: token {token!r} is not in {self.feature_file('user')}, treated as missing"
                        )
                    elif seen is not None and token_id not in seen:
                        notes.append(
                            f"user feature {name}: token {token!r} belongs to no training user, treated as "
                            "missing (as at test time, mask_unseen_tokens)"
                        )
                        token_id = 0
                    ids.append(token_id)
                if ftype == FeatureType.TOKEN:
                    rows[encoder][name] = torch.tensor(ids[0] if ids else 0, dtype=table.dtype)
                else:
                    width = table.shape[1]
                    if len(ids) > width:
                        raise ValueError(f"user feature {name}: at most {width} tokens, got {len(tokens)}")
                    rows[encoder][name] = torch.tensor(ids + [0] * (width - len(ids)), dtype=table.dtype)
        return rows, list(dict.fromkeys(notes))

    def _float_value(self, name, raw, table):
        normalised = self.config["normalize_all"] or name in (self.config["normalize_field"] or [])
        if normalised:
            raise ValueError(
                f"user feature {name} is a float field the dataset normalised; cold-start serving takes token "
                "and token_seq user fields and un-normalised float fields"
            )
        if raw is None:
            raise ValueError(f"user feature {name} (a float field) must be given")
        try:
            return torch.tensor(float(raw), dtype=table.dtype)
        except ValueError:
            raise ValueError(f"user feature {name} must be a number, got {raw!r}") from None

    @contextlib.contextmanager
    def _new_user(self, rows):
        """A temporary user id whose feature-table rows are ``rows`` (removed again on exit)."""
        saved = []
        new_id = self.dataset.user_num
        try:
            for encoder, values in rows.items():
                for name, row in values.items():
                    buffer = encoder._buffer(name)
                    table = getattr(encoder, buffer)
                    saved.append((encoder, buffer, table))
                    setattr(encoder, buffer, torch.cat([table, row.to(table.device).unsqueeze(0)]))
            yield new_id
        finally:
            for encoder, buffer, table in saved:
                setattr(encoder, buffer, table)

    # ------------------------------------------------------------------------------------------ predict
    def _batch(self, user_id, support_ids, support_ratings, item_ids):
        batch = one_task_batch(
            self.uid_field, user_id, support_ids, support_ratings, item_ids, torch.get_default_dtype()
        )
        return batch.to(self.config["device"])

    def _known_support(self, user_id):
        inter = self.dataset.inter_feat
        rows = (inter[self.uid_field] == user_id).nonzero(as_tuple=True)[0]
        items = inter[self.iid_field][rows].tolist()
        ratings = inter[self.config["RATING_FIELD"]][rows].tolist()
        return {str(self._item_tokens[i]): r for i, r in zip(items, ratings)}

    @torch.no_grad()
    def recommend(self, ratings=None, features=None, user=None, items=(), k=10):
        """Adapt to ``ratings`` and predict.

        Args:
            ratings (dict): ``{item token: rating}``, the user's support set (raw item tokens, raw rating units).
            features (dict): a new user's profile, ``{.user field: raw token(s)}``.
            user (str): a user token. A user of the dataset brings their profile and all their ratings in the
                file (``ratings`` add to or replace them); then ``features`` must be empty. Any other token is
                a new user, named only for the caller's records.
            items (list of str): items whose predicted ratings to return.
            k (int): how many items of the catalogue (every item but the padding, minus the rated ones) to rank.

        Returns:
            Recommendation
        """
        if isinstance(k, bool) or not isinstance(k, int) or k < 0:
            raise ValueError(f"k must be an integer >= 0, got {k!r}")
        known_id = None if user is None else self.known_user(user)
        notes = []
        support = {}
        if known_id is not None:
            if features:
                raise ValueError(
                    f"user {user!r} is in {self.feature_file('user')}: their profile comes from the file, give no features"
                )
            support = self._known_support(known_id)
            notes.append(f"user {user!r} is known: {len(support)} rating(s) from the dataset in the support")
        support.update({str(i): r for i, r in dict(ratings or {}).items()})
        items = [str(i) for i in items]
        self.item_ids(list(dict.fromkeys(list(support) + items)))  # every unknown item named at once
        support_ids, support_values = self.check_ratings(support)
        item_ids = self.item_ids(items)
        rated = set(support_ids)
        candidates = torch.tensor(
            [i for i in range(1, self.dataset.item_num) if i not in rated], dtype=torch.long
        ).to(self.config["device"])

        if known_id is not None:
            context = contextlib.nullcontext(known_id)
        else:
            rows, profile_notes = self.profile_row(features)
            notes += profile_notes
            context = self._new_user(rows)
        with context as user_id:
            batch = self._batch(user_id, support_ids, support_values, item_ids)
            predicted, scores = self.maml.predict_query_and_items(batch, candidates)
        predicted = predicted[0, : len(item_ids)]
        scores = scores[0]
        low, high = self.rating_range
        clip = (lambda x: x.clamp(low, high)) if self.clip else (lambda x: x)
        predictions = dict(zip([str(i) for i in items], clip(predicted).tolist()))
        order = torch.argsort(-scores, stable=True)[: min(k, len(candidates))]
        top_ids = candidates[order].tolist()
        titles = self.titles(top_ids) if top_ids else []
        top = [
            (str(self._item_tokens[i]), float(v), t)
            for i, v, t in zip(top_ids, clip(scores[order]).tolist(), titles)
        ]
        return Recommendation(predictions, top, dict(zip(support, support_values)), notes)

    # ------------------------------------------------------------------------------------------ onboarding
    def resolve_strategy(self, strategy="auto"):
        """``evidence`` for a model adapted by local gradient steps, ``popular`` otherwise (``auto``)."""
        if strategy not in ASK_STRATEGIES:
            raise ValueError(f"ask strategy must be one of {', '.join(ASK_STRATEGIES)}, got {strategy!r}")
        adapts = self.maml.steps > 0
        if strategy == "auto":
            return "evidence" if adapts else "popular"
        if strategy == "evidence" and not adapts:
            raise ValueError(
                f"evidence candidates need a model adapted by local gradient steps (MeLU); "
                f"{type(self.model).__name__} has local_update_steps 0: ask the popular items instead"
            )
        return strategy

    def items_to_ask(self, k=5, strategy="auto"):
        """The ``k`` items to ask a new user to rate first: ``[(item token, title)]``, best first.

        ``evidence``: MeLU's evidence candidates (Lee et al., Section 3.3; :mod:`recbole_meta.model.meta_recommender.evidence`) over the
        personalised parameters this model adapts; ``popular``: the most rated training items.
        """
        strategy = self.resolve_strategy(strategy)
        if strategy == "evidence":
            chosen = select_evidence_candidates(
                self.model,
                self.dataset,
                k=k,
                personalised=self.maml.adapted_names,
                pool=max(k, min(1000, self.dataset.item_num)),
            )
            return [(c["item"], c["title"]) for c in chosen]
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        _, train_items, _ = self.split.train_interactions()
        counts = np.bincount(train_items, minlength=self.dataset.item_num)
        ids = [int(i) for i in np.argsort(-counts, kind="stable")[:k] if counts[i] > 0]
        return [(str(self._item_tokens[i]), t) for i, t in zip(ids, self.titles(ids))]
