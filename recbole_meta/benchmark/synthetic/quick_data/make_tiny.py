"""Regenerate quick_data/tiny, the dataset of --quick benchmark runs and of the tests.

Seeded; the files are committed (and ship in the package), so neither the tests nor a quick run depend on this
script.

60 users, 40 items, 10-25 ratings per user from a planted model: users of gender F rate genre-0 items higher.
"""

import os

import numpy as np

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tiny")


def main(seed=0):
    rng = np.random.default_rng(seed)
    n_users, n_items = 60, 40
    genders = rng.choice(["M", "F"], size=n_users)
    ages = rng.choice(["18", "25", "35", "50"], size=n_users)
    genres = [sorted(rng.choice(4, size=rng.integers(1, 3), replace=False).tolist()) for _ in range(n_items)]
    years = rng.choice(["1990", "1995", "1997", "1998"], size=n_items)
    quality = rng.normal(0, 0.7, size=n_items)
    os.makedirs(HERE, exist_ok=True)
    with open(os.path.join(HERE, "tiny.user"), "w") as f:
        f.write("user_id:token\tage:token\tgender:token\n")
        for u in range(n_users):
            f.write(f"u{u}\t{ages[u]}\t{genders[u]}\n")
    with open(os.path.join(HERE, "tiny.item"), "w") as f:
        f.write("item_id:token\trelease_year:token\tclass:token_seq\n")
        for i in range(n_items):
            f.write(f"i{i}\t{years[i]}\t{' '.join(f'g{g}' for g in genres[i])}\n")
    with open(os.path.join(HERE, "tiny.inter"), "w") as f:
        f.write("user_id:token\titem_id:token\trating:float\ttimestamp:float\n")
        t = 880000000
        for u in range(n_users):
            items = rng.choice(n_items, size=rng.integers(10, 26), replace=False)
            for i in items:
                likes = 1.0 if (genders[u] == "F") == (0 in genres[i]) else -1.0
                r = int(np.clip(np.rint(3.2 + quality[i] + 0.8 * likes + rng.normal(0, 0.5)), 1, 5))
                t += int(rng.integers(1, 5000))
                f.write(f"u{u}\ti{i}\t{r}\t{t}\n")


if __name__ == "__main__":
    main()
