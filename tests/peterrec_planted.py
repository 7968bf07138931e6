"""A small synthetic dataset with planted user traits for PeterRec's tests (written as RecBole atomic files).

Users have a hidden type k in 0..3. Source items s0..s23 (release year 1990): a type-k user watches 4-6 of
s(6k)..s(6k+5). Target items t0..t15 (release year 1999): 2-4 of t(4k)..t(4k+3). Gender is F for even types and M
for odd ones, so the label is determined by the items seen; so is which 4 of the 16 target items a user watches
(all 16 are equally popular). Every 8th user watched no source item (only targets). Item x0 has the unparsable
release year "unknown".
"""

import os

import numpy as np

N_SOURCE, N_TARGET = 24, 16


def write_planted(data_path, name="planted", n_users=160, seed=0):
    """Write ``<data_path>/<name>/<name>.{inter,user,item}``; return ``{user token: gender class}`` (0 = F)."""
    rng = np.random.default_rng(seed)
    folder = os.path.join(str(data_path), name)
    os.makedirs(folder, exist_ok=True)
    types = {}
    with open(os.path.join(folder, f"{name}.item"), "w") as f:
        f.write("item_id:token\trelease_year:token\n")
        for i in range(N_SOURCE):
            f.write(f"s{i}\t1990\n")
        for i in range(N_TARGET):
            f.write(f"t{i}\t1999\n")
        f.write("x0\tunknown\n")
    with open(os.path.join(folder, f"{name}.user"), "w") as f:
        f.write("user_id:token\tage:token\tgender:token\n")
        for u in range(n_users):
            types[f"u{u}"] = int(rng.integers(4))
            age = rng.choice(["17", "22", "30", "40", "60"])
            f.write(f"u{u}\t{age}\t{'F' if types[f'u{u}'] % 2 == 0 else 'M'}\n")
    with open(os.path.join(folder, f"{name}.inter"), "w") as f:
        f.write("user_id:token\titem_id:token\trating:float\ttimestamp:float\n")
        for u in range(n_users):
            kind = types[f"u{u}"]
            source = (
                [] if u % 8 == 0 else list(rng.choice(6, size=rng.integers(4, 7), replace=False) + 6 * kind)
            )
            target = list(rng.choice(4, size=rng.integers(2, 5), replace=False) + 4 * kind)
            events = [f"s{i}" for i in source] + [f"t{i}" for i in target]
            if u % 5 == 1 and source:
                events.append("x0")
            times = np.sort(rng.choice(10**6, size=len(events), replace=False))
            for item, t in zip(rng.permutation(events), times):
                f.write(f"u{u}\t{item}\t4\t{880000000 + int(t)}\n")
    return {user: kind % 2 for user, kind in types.items()}


def planted_config(data_path, **overrides):
    """A fast PeterRec config on the planted dataset (tiny backbone, a few epochs)."""
    config = {
        "data_path": str(data_path),
        "embedding_size": 16,
        "dilations": [1, 2],
        "block_num": 1,
        "MAX_ITEM_LIST_LENGTH": 12,
        "train_batch_size": 32,
        "learning_rate": 0.01,
        "epochs": 2,
        "stopping_step": 100,
        "show_progress": False,
        "state": "WARNING",
        "seed": 0,
        "checkpoint_dir": "saved",
        "target_domain": {"field": "release_year", "min": 1995},
        "load_col": {
            "inter": ["user_id", "item_id", "rating", "timestamp"],
            "user": ["user_id", "age", "gender"],
            "item": ["item_id", "release_year"],
        },
    }
    config.update(overrides)
    return config
