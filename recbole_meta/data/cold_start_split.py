"""The cold-start split: existing / validation / new users, existing / new items, and the four test states.

The protocol is MeLU's (Lee et al., KDD 2019, Section 5.1: "existing" and "new" users and items, four
recommendation scenarios), written so that nothing a test task asks about was ever trained on:

* users are kept when they have ``min_user_inter`` .. ``max_user_inter`` ratings (MeLU: 13 .. 100) and are split,
  seeded, into *existing* (meta-training), *validation* and *new* users (``valid_user_ratio``,
  ``new_user_ratio``);
* items are split into *existing* and *new* by ``new_item_rule``: a numeric threshold on an item field
  (``{field: release_year, min: 1997}``; non-numeric or missing values go to the side named by ``non_numeric``
  and are reported), the first-interaction time quantile (``{time_quantile: 0.8}``), or a random fraction
  (``{fraction: 0.2}``);
* meta-training sees only existing users x existing items, minus each existing user's *warm query*: ``query_size``
  of their existing-item ratings held out before training (from a share ``warm_holdout_fraction`` of the existing
  users; the others keep every existing-item rating for training and have no warm task);
* with ``heavy_users_for_training: True`` users above ``max_user_inter`` are kept as meta-training users only: all
  their existing-item ratings are training ratings, they are never validation or test users, and the test and
  validation users and tasks are exactly those of the same seed without the option (the users are split and the
  tasks drawn before the heavy users are added; tested);
* each test user has one support set, their known existing-item ratings (for existing users: the training
  ratings; for new users: their existing-item ratings minus the user-cold query). The states differ by the query:

  ==================  =============  ============================================================
  state               users          query (``query_size`` ratings, never trained on)
  ==================  =============  ============================================================
  ``warm``            existing       held-out ratings on existing items
  ``user_cold``       new            ratings on existing items
  ``item_cold``       existing       ratings on new items
  ``user_item_cold``  new            ratings on new items
  ==================  =============  ============================================================

  Validation users form ``user_cold``-like tasks used for early stopping.

  With ``item_state_support: state`` (MeLU's released code) the item_cold / user_item_cold supports are instead
  the user's other new-item ratings: support and query both from the state's items (such a task then needs
  ``query_size + min_support_size`` new-item ratings). The default describes a new item met by a user whose
  tastes are known from the existing catalogue; ``state`` measures adaptation on the new items themselves.

Users that cannot form a task of a state (too few ratings of the kind it needs) are skipped for that state and
counted in :attr:`ColdStartSplit.report`, which is logged; nothing is dropped silently.
"""

from collections import OrderedDict
from logging import getLogger

import numpy as np

from recbole_meta.data.fractions import fraction
from recbole_meta.data.numeric_item_field import numeric_item_values
from recbole_meta.input_checks import check_option

STATES = ("warm", "user_cold", "item_cold", "user_item_cold")
VALID_STATE = "valid"

# user groups (values of ColdStartSplit.user_group)
ABSENT, EXISTING, VALIDATION, NEW = 0, 1, 2, 3
_GROUP_NAMES = {EXISTING: "existing", VALIDATION: "validation", NEW: "new"}

_NON_NUMERIC_SIDES = ("existing", "new", "drop")

# Rating scales that an inferred range is compared with (explicit feedback and 0/1 implicit feedback).
COMMON_RATING_SCALES = ((1.0, 5.0), (0.5, 5.0), (0.0, 5.0), (1.0, 10.0), (0.0, 10.0), (0.0, 1.0))


class Task:
    """One user's episode: row indices (into the split's arrays) of the support and the query ratings."""

    __slots__ = ("user", "support", "query")

    def __init__(self, user, support, query):
        self.user = int(user)
        self.support = np.asarray(support, dtype=np.int64)
        self.query = np.asarray(query, dtype=np.int64)

    def __repr__(self):
        return f"Task(user={self.user}, support={len(self.support)}, query={len(self.query)})"


def _rng(seed, stream):
    """Independent, seeded random streams, so that changing the item rule does not reshuffle the users."""
    return np.random.default_rng([int(seed), stream])


class ColdStartSplit:
    """Build the cold-start split of a :class:`~recbole_meta.data.cold_start_dataset.ColdStartDataset`.

    Attributes:
        users, items, ratings (np.ndarray): the kept interactions (remapped ids, raw ratings), one row each.
        user_group (np.ndarray): per user id, ``ABSENT`` / ``EXISTING`` / ``VALIDATION`` / ``NEW``.
        item_is_new (np.ndarray of bool): per item id.
        train_rows (dict): existing user -> row indices of their training ratings.
        tasks (dict): state (``warm``, ``user_cold``, ``item_cold``, ``user_item_cold``, ``valid``) -> list of
            :class:`Task`.
        report (OrderedDict): counts of everything kept, moved or skipped (logged on construction).
    """

    def __init__(self, dataset, config):
        self.dataset = dataset
        self.logger = getLogger()
        self.seed = int(config["seed"])
        self.query_size = check_option(config, "query_size", "positive integer")
        self.min_support = check_option(config, "min_support_size", "positive integer")
        self.min_user_inter = check_option(config, "min_user_inter", "positive integer")
        self.max_user_inter = config["max_user_inter"]
        self.warm_holdout_fraction = fraction(
            config["warm_holdout_fraction"], "warm_holdout_fraction", upto_one=True
        )
        self.heavy_users_for_training = _flag(config, "heavy_users_for_training")
        self.item_state_support = config["item_state_support"]
        if self.item_state_support not in ("existing", "state"):
            raise ValueError(
                f"item_state_support must be 'existing' or 'state', got {self.item_state_support!r}"
            )
        if self.heavy_users_for_training and self.max_user_inter is None:
            raise ValueError(
                "heavy_users_for_training: True needs max_user_inter (the bound above which users are heavy)"
            )
        self.report = OrderedDict()

        self._load_interactions(config)
        self._filter_users()
        self._split_users(config)
        self._split_items(config["new_item_rule"], config)
        self._build_tasks()
        self._check_states(config["eval_states"])
        self.logger.info(self.report_table())

    # ------------------------------------------------------------------------------------------ interactions
    def _load_interactions(self, config):
        ds = self.dataset
        inter = ds.inter_feat
        self.n_users, self.n_items = ds.user_num, ds.item_num
        users = inter[ds.uid_field].numpy().astype(np.int64)
        items = inter[ds.iid_field].numpy().astype(np.int64)
        ratings = inter[config["RATING_FIELD"]].numpy().astype(np.float64)
        time_field = ds.time_field if ds.time_field in inter.columns else None
        times = (
            inter[time_field].numpy().astype(np.float64) if time_field else np.arange(len(users), dtype=float)
        )
        self.has_time = time_field is not None
        self.report["interactions loaded"] = len(users)

        if not np.all(np.isfinite(ratings)):
            raise ValueError(f"{int((~np.isfinite(ratings)).sum())} rating(s) are NaN or infinite")
        rating_range = config["rating_range"]
        if rating_range is not None:
            if not (isinstance(rating_range, (list, tuple)) and len(rating_range) == 2):
                raise ValueError(f"rating_range must be [low, high] or ~ (not checked), got {rating_range!r}")
            low, high = float(rating_range[0]), float(rating_range[1])
            if not low < high:
                raise ValueError(f"rating_range must be [low, high] with low < high, got {rating_range!r}")
            bad = (ratings < low) | (ratings > high)
            if bad.any():
                rows = np.flatnonzero(bad)[:5]
                examples = ", ".join(
                    f"user {ds.id2token(ds.uid_field, users[r])} item {ds.id2token(ds.iid_field, items[r])}: "
                    f"{ratings[r]:g}"
                    for r in rows
                )
                raise ValueError(
                    f"{int(bad.sum())} rating(s) outside rating_range [{low:g}, {high:g}] in "
                    f"{ds.dataset_name}.inter ({examples}); fix the data or set rating_range"
                )
        self.rating_min = float(ratings.min()) if len(ratings) else 0.0
        self.rating_max = float(ratings.max()) if len(ratings) else 0.0
        if rating_range is not None:
            self.rating_min, self.rating_max = float(rating_range[0]), float(rating_range[1])
        else:
            self._report_inferred_range()

        # An item's first interaction time over all of the data (for the time-quantile item rule).
        self.item_first_time = np.full(self.n_items, np.inf)
        np.minimum.at(self.item_first_time, items, times)

        # A (user, item) pair rated twice would let one copy be trained on while the other is a test query.
        order = np.lexsort((times, items, users))
        users, items, ratings, times = users[order], items[order], ratings[order], times[order]
        last = np.ones(len(users), dtype=bool)
        last[:-1] = (users[1:] != users[:-1]) | (items[1:] != items[:-1])
        self.report["duplicate (user, item) ratings dropped (latest kept)"] = int((~last).sum())
        if (~last).any():
            self.logger.warning(
                f"{int((~last).sum())} duplicate (user, item) ratings dropped; the latest of each pair is kept"
            )
        self.users, self.items, self.ratings, self.times = (
            users[last],
            items[last],
            ratings[last],
            times[last],
        )

    def _report_inferred_range(self):
        """Without ``rating_range`` the observed range clips predictions: report it, warn when it is unusual."""
        low, high = self.rating_min, self.rating_max
        self.report["rating range (inferred; rating_range not set)"] = f"[{low:g}, {high:g}]"
        if (low, high) not in COMMON_RATING_SCALES:
            scales = ", ".join(f"[{a:g}, {b:g}]" for a, b in COMMON_RATING_SCALES)
            self.logger.warning(
                f"rating_range is not set and the ratings span [{low:g}, {high:g}], not a common scale ({scales}): "
                "an out-of-range rating would widen the clipping range; set rating_range: [low, high]"
            )

    def _filter_users(self):
        counts = np.bincount(self.users, minlength=self.n_users)
        low, high = self.min_user_inter, self.max_user_inter
        keep_user = counts >= low
        if high is not None:
            keep_user &= counts <= int(high)
        rated = counts > 0
        self.report["users with ratings"] = int(rated.sum())
        self.report[f"users removed: fewer than {low} ratings"] = int((rated & (counts < low)).sum())
        if high is not None:
            self.report[f"users removed: more than {high} ratings"] = int((counts > int(high)).sum())
        keep = keep_user[self.users]
        self.heavy_users = np.zeros(0, dtype=np.int64)
        self._heavy_rows = None
        if self.heavy_users_for_training:
            heavy = counts > int(high)
            self.heavy_users = np.flatnonzero(heavy)
            rows = heavy[self.users]
            self._heavy_rows = (self.users[rows], self.items[rows], self.ratings[rows], self.times[rows])
            self.report["heavy users kept for meta-training only"] = len(self.heavy_users)
        self.users, self.items = self.users[keep], self.items[keep]
        self.ratings, self.times = self.ratings[keep], self.times[keep]
        self.kept_users = np.flatnonzero(keep_user)
        self.report["users kept"] = len(self.kept_users)
        self.report["interactions kept"] = len(self.users)

    # ----------------------------------------------------------------------------------------------- users
    def _split_users(self, config):
        new_ratio = fraction(config["new_user_ratio"], "new_user_ratio")
        valid_ratio = fraction(config["valid_user_ratio"], "valid_user_ratio")
        n = len(self.kept_users)
        n_new, n_valid = int(round(n * new_ratio)), int(round(n * valid_ratio))
        n_existing = n - n_new - n_valid
        if n_new < 1 or n_valid < 1 or n_existing < 1:
            raise ValueError(
                f"too few users for the cold-start split: {n} user(s) have {self.min_user_inter}.."
                f"{self.max_user_inter} ratings; new_user_ratio={new_ratio} and valid_user_ratio={valid_ratio} "
                f"give {n_existing} existing, {n_valid} validation and {n_new} new users (each needs >= 1)"
            )
        shuffled = _rng(self.seed, 0).permutation(self.kept_users)
        self.user_group = np.zeros(self.n_users, dtype=np.int64)
        self.user_group[shuffled[:n_existing]] = EXISTING
        self.user_group[shuffled[n_existing : n_existing + n_valid]] = VALIDATION
        self.user_group[shuffled[n_existing + n_valid :]] = NEW
        for group, name in _GROUP_NAMES.items():
            self.report[f"{name} users"] = int((self.user_group == group).sum())

    # ----------------------------------------------------------------------------------------------- items
    def _split_items(self, rule, config):
        self.item_is_new = np.zeros(self.n_items, dtype=bool)
        dropped = np.zeros(self.n_items, dtype=bool)
        if rule is None:
            self.report["new item rule"] = "none (all items existing)"
        elif not isinstance(rule, dict):
            raise ValueError(f"new_item_rule must be a dict or ~, got {rule!r}")
        elif "field" in rule:
            dropped = self._threshold_rule(rule, config)
        elif "time_quantile" in rule:
            self._time_rule(rule)
        elif "fraction" in rule:
            self._random_rule(rule)
        else:
            raise ValueError(
                f"new_item_rule {rule!r} names no rule: use {{field: NAME, min: VALUE}}, "
                "{time_quantile: Q} or {fraction: F}"
            )
        if dropped.any():
            keep = ~dropped[self.items]
            self.report["interactions dropped with their items (non_numeric: drop)"] = int((~keep).sum())
            self.users, self.items = self.users[keep], self.items[keep]
            self.ratings, self.times = self.ratings[keep], self.times[keep]
            if self._heavy_rows is not None:
                keep = ~dropped[self._heavy_rows[1]]
                self._heavy_rows = tuple(column[keep] for column in self._heavy_rows)
        rated = np.bincount(self.items, minlength=self.n_items) > 0
        self.item_is_new &= ~dropped
        self.report["existing items (rated)"] = int((rated & ~self.item_is_new).sum())
        self.report["new items (rated)"] = int((rated & self.item_is_new).sum())

    def _threshold_rule(self, rule, config):
        unknown = set(rule) - {"field", "min", "non_numeric"}
        if unknown or "min" not in rule:
            raise ValueError(
                f"new_item_rule {rule!r}: a threshold rule has the keys field, min and optionally "
                f"non_numeric ({'/'.join(_NON_NUMERIC_SIDES)}); unknown keys: {sorted(unknown)}"
            )
        field, threshold = rule["field"], float(rule["min"])
        side = rule.get("non_numeric", "new")
        if side not in _NON_NUMERIC_SIDES:
            raise ValueError(f"new_item_rule.non_numeric must be one of {_NON_NUMERIC_SIDES}, got {side!r}")
        values, labels = numeric_item_values(self.dataset, field, "new_item_rule.field")
        numeric = np.isfinite(values)
        self.item_is_new = numeric & (values >= threshold)
        rated = np.bincount(self.items, minlength=self.n_items) > 0
        odd = rated & ~numeric
        odd[0] = False
        odd_values = sorted({str(labels[i]) for i in np.flatnonzero(odd)})
        self.report["new item rule"] = f"{field} >= {threshold:g}"
        self.report[f"items with non-numeric {field} -> {side}"] = (
            f"{int(odd.sum())} {odd_values}" if odd.any() else "0"
        )
        if odd.any():
            # a warning only when the user has not said where such items go; the report lists them either way
            log = self.logger.info if "non_numeric" in rule else self.logger.warning
            log(
                f"new_item_rule: {int(odd.sum())} rated item(s) have a non-numeric or missing {field} "
                f"({', '.join(odd_values)}); put on the '{side}' side (new_item_rule.non_numeric)"
            )
        if side == "new":
            self.item_is_new |= odd
        elif side == "drop":
            return odd
        return np.zeros(self.n_items, dtype=bool)

    def _time_rule(self, rule):
        if not self.has_time:
            raise ValueError("new_item_rule.time_quantile needs TIME_FIELD in the .inter file")
        q = float(rule["time_quantile"])
        if not 0.0 < q < 1.0 or set(rule) != {"time_quantile"}:
            raise ValueError(f"new_item_rule {rule!r}: time_quantile must be the only key, in (0, 1)")
        rated = np.isfinite(self.item_first_time)
        cut = np.quantile(self.item_first_time[rated], q)
        self.item_is_new = rated & (self.item_first_time > cut)
        self.report["new item rule"] = f"first interaction after the {q:g} quantile of items' first times"

    def _random_rule(self, rule):
        fraction = float(rule["fraction"])
        if not 0.0 < fraction < 1.0 or set(rule) != {"fraction"}:
            raise ValueError(f"new_item_rule {rule!r}: fraction must be the only key, in (0, 1)")
        rated = np.flatnonzero(np.bincount(self.items, minlength=self.n_items) > 0)
        chosen = _rng(self.seed, 1).choice(rated, size=int(round(fraction * len(rated))), replace=False)
        self.item_is_new[chosen] = True
        self.report["new item rule"] = f"random fraction {fraction:g} (seeded)"

    # ----------------------------------------------------------------------------------------------- tasks
    def _build_tasks(self):
        rng = _rng(self.seed, 2)
        q, min_s = self.query_size, self.min_support
        order = np.argsort(self.users, kind="stable")
        bounds = np.searchsorted(self.users[order], np.arange(self.n_users + 1))
        self.tasks = {state: [] for state in (*STATES, VALID_STATE)}
        self.train_rows = {}
        skipped = {state: 0 for state in (*STATES, VALID_STATE)}
        skipped_train = no_holdout = 0
        need = f"{q} query + {min_s} support"
        held_out = np.ones(self.n_users, dtype=bool)
        if self.warm_holdout_fraction < 1.0:
            existing = np.flatnonzero(self.user_group == EXISTING)
            keep = _rng(self.seed, 4).permutation(existing)[
                int(round(self.warm_holdout_fraction * len(existing))) :
            ]
            held_out[keep] = False
        for user in self.kept_users:
            rows = order[bounds[user] : bounds[user + 1]]
            if len(rows) == 0:  # every rating was on a dropped item
                continue
            is_new_item = self.item_is_new[self.items[rows]]
            old_rows, new_rows = rows[~is_new_item], rows[is_new_item]
            group = self.user_group[user]
            if group == EXISTING:
                support = old_rows
                if len(old_rows) >= q + min_s:
                    # drawn for every user, so that the fraction changes no other draw of the split
                    query = rng.choice(old_rows, size=q, replace=False)
                    if held_out[user]:
                        support = np.setdiff1d(old_rows, query)
                        self.tasks["warm"].append(Task(user, support, query))
                    else:
                        no_holdout += 1
                else:
                    skipped["warm"] += 1
                if len(support) >= 2:
                    self.train_rows[int(user)] = support
                else:
                    skipped_train += 1
                self._add_task("item_cold", self._new_item_task(user, support, new_rows, rng), skipped)
            elif group == VALIDATION:
                if len(old_rows) >= q + min_s:
                    query = rng.choice(old_rows, size=q, replace=False)
                    self.tasks[VALID_STATE].append(Task(user, np.setdiff1d(old_rows, query), query))
                else:
                    skipped[VALID_STATE] += 1
            elif group == NEW:
                support = old_rows
                if len(old_rows) >= q + min_s:
                    query = rng.choice(old_rows, size=q, replace=False)
                    support = np.setdiff1d(old_rows, query)
                    self.tasks["user_cold"].append(Task(user, support, query))
                else:
                    skipped["user_cold"] += 1
                self._add_task("user_item_cold", self._new_item_task(user, support, new_rows, rng), skipped)
        self.report[
            f"existing users without a warm holdout (warm_holdout_fraction {self.warm_holdout_fraction:g})"
        ] = no_holdout
        self._add_heavy_users()
        self.train_users = np.array(sorted(self.train_rows), dtype=np.int64)
        self.report["training users"] = len(self.train_users)
        self.report["existing users skipped for training (< 2 ratings left)"] = skipped_train
        self.report["training ratings"] = int(sum(len(r) for r in self.train_rows.values()))
        for state in (*STATES, VALID_STATE):
            self.report[f"{state} tasks"] = len(self.tasks[state])
            self.report[f"{state}: users skipped (need {need} ratings of the state's kind)"] = skipped[state]
        self._skipped = skipped

    def _add_task(self, state, task, skipped):
        """Append ``task`` to ``state``'s tasks, or count the user as skipped for ``state`` when it is ``None``."""
        if task is None:
            skipped[state] += 1
        else:
            self.tasks[state].append(task)

    def _new_item_task(self, user, support, new_rows, rng):
        """An item_cold / user_item_cold task of ``query_size`` of the user's new-item ratings, or ``None``.

        ``None`` when the user has fewer new-item ratings than ``query_size`` or ``support`` (the user's known
        existing-item ratings) is below ``min_support_size``; only then is no query drawn. The support depends on
        ``item_state_support``: ``existing`` (default) keeps ``support``; ``state`` (MeLU's released code) takes
        the user's other new-item ratings, so support and query both come from the state's items (``None`` when
        fewer than ``min_support_size`` are left). The query draw is the same in both modes, so the other states'
        tasks do not change.
        """
        if len(new_rows) < self.query_size or len(support) < self.min_support:
            return None
        query = rng.choice(new_rows, self.query_size, replace=False)
        if self.item_state_support == "existing":
            return Task(user, support, query)
        own = np.setdiff1d(new_rows, query)
        return Task(user, own, query) if len(own) >= self.min_support else None

    def _add_heavy_users(self):
        """Heavy users' existing-item ratings become training rows (appended, so no earlier row index moves)."""
        if self._heavy_rows is None:
            return
        users, items, ratings, times = self._heavy_rows
        old = ~self.item_is_new[items]
        start = len(self.users)
        self.users = np.concatenate([self.users, users])
        self.items = np.concatenate([self.items, items])
        self.ratings = np.concatenate([self.ratings, ratings])
        self.times = np.concatenate([self.times, times])
        rows = start + np.flatnonzero(old)
        order = np.argsort(users[old], kind="stable")
        rows, owners = rows[order], users[old][order]
        cuts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1], True])
        for a, b in zip(cuts[:-1], cuts[1:]):
            if b - a >= 2:
                self.train_rows[int(owners[a])] = rows[a:b]
                self.user_group[owners[a]] = EXISTING
        self.report["heavy users' training ratings"] = int(
            sum(len(self.train_rows[int(u)]) for u in self.heavy_users if int(u) in self.train_rows)
        )
        self._heavy_rows = None

    def _check_states(self, eval_states):
        if isinstance(eval_states, str):  # list('warm') would be its letters
            raise ValueError(
                f"eval_states must be a list of states, e.g. [{eval_states}], got {eval_states!r}"
            )
        eval_states = list(STATES if eval_states is None else eval_states)
        unknown = [s for s in eval_states if s not in STATES]
        if unknown or not eval_states:
            raise ValueError(f"eval_states must be a non-empty subset of {list(STATES)}, got {eval_states}")
        self.eval_states = eval_states
        for state in [*eval_states, VALID_STATE]:
            if not self.tasks[state]:
                raise ValueError(
                    f"cold-start state '{state}' has no tasks after the split: {self._skipped[state]} user(s) "
                    f"lacked {self.query_size} query + {self.min_support} support ratings of its kind "
                    f"(new_item_rule: {self.report.get('new item rule')}); change the rule, query_size, or drop "
                    "the state from eval_states"
                )
        if not self.train_rows:
            raise ValueError("no existing user has 2 or more training ratings: nothing to meta-train on")

    # --------------------------------------------------------------------------------------------- queries
    def train_interactions(self):
        """(users, items, ratings) of every training rating: existing users x existing items, warm queries out."""
        rows = np.concatenate([self.train_rows[u] for u in self.train_users])
        return self.users[rows], self.items[rows], self.ratings[rows]

    def report_table(self):
        width = max(len(k) for k in self.report)
        lines = [f"  {key:<{width}}  {value}" for key, value in self.report.items()]
        return f"cold-start split (seed {self.seed}):\n" + "\n".join(lines)


def _flag(config, key):
    value = config[key]
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be True or False, got {value!r}")
    return value
