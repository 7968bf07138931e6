"""Train and test a recbole_meta or RecBole model, RecBole style.

    python run_recbole_meta.py --model=MeLU --dataset=ml-100k --config_files="a.yaml b.yaml" --epochs=5

Every ``--key=value`` other than --model/-m, --dataset/-d and --config_files goes to the config.
"""

import sys

from recbole_meta.cli import main

if __name__ == "__main__":
    sys.exit(main())
