"""Command line: recommend with a trained model, for a known user or a brand-new one (scriptable or interactive).

    # a user in no file: profile tokens as in the .user file, three ratings, the top 10
    python -m recbole_meta.recommend --model_file=saved/MeLU-....pth \\
        --feature age=25 --feature gender=F --rate 50=5 --rate 181=4 --rate 288=2 --topk=10
    # onboarding: print the 5 items to ask about (MeLU's evidence candidates), then recommend from the answers
    python -m recbole_meta.recommend --model_file=saved/MeLU-....pth --ask=5
    # the same as a conversation on the terminal (ask the profile, ask ratings, recommend)
    python -m recbole_meta.recommend --model_file=saved/MeLU-....pth --interactive
    # a known user of any model (RecBole's full_sort_topk; episodic models adapt to the user's file ratings)
    python -m recbole_meta.recommend --model_file=saved/BPR-....pth --user=196 --topk=10
    # PeterRec: a task checkpoint (and its backbone) asked about a behaviour sequence, oldest item first
    python -m recbole_meta.recommend --model_file=saved/PeterRec-....pth --backbone=backbone.pth --sequence 50 181 1

Installed as the ``recbole_meta_recommend`` console script too. Items and users are raw tokens; unknown items
and profile tokens are reported by name. ``--json`` prints one JSON object instead of tables.
"""

import argparse
import json
import sys


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m recbole_meta.recommend",
        description="Recommend with a trained recbole_meta / RecBole model (see the module docstring).",
    )
    parser.add_argument("--model_file", required=True, help="checkpoint written by run_recbole_meta.py")
    parser.add_argument("--user", default=None, help="a user token (known users bring their file profile)")
    parser.add_argument(
        "--feature", action="append", default=[], metavar="FIELD=TOKENS", help="new user's profile (repeat)"
    )
    parser.add_argument(
        "--rate", action="append", default=[], metavar="ITEM=RATING", help="a rating (repeat)"
    )
    parser.add_argument(
        "--items", nargs="*", default=[], metavar="ITEM", help="items whose rating to predict"
    )
    parser.add_argument("--topk", type=int, default=10, help="how many items to recommend (default 10)")
    parser.add_argument(
        "--ask", type=int, default=None, metavar="K", help="onboarding: the K items to rate first"
    )
    parser.add_argument(
        "--ask_strategy",
        default="auto",
        choices=["auto", "evidence", "popular"],
        help="evidence candidates (MeLU) or most-rated items; auto picks evidence when the model adapts by gradient",
    )
    parser.add_argument(
        "--interactive", action="store_true", help="ask the profile and ratings on the terminal"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--data_path", default=None, help="folder holding the dataset folder, if it moved")
    parser.add_argument(
        "--sequence", nargs="*", default=None, metavar="ITEM", help="PeterRec: the user's items, oldest first"
    )
    parser.add_argument("--backbone", default=None, help="PeterRec: the backbone file, if it moved")
    return parser


def parse_pairs(pairs, what):
    """``["a=1", "b=x y"]`` -> ``{"a": "1", "b": "x y"}``; a malformed pair is an error naming it."""
    parsed = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{what} {pair!r} must be written KEY=VALUE")
        parsed[key.strip()] = value.strip()
    return parsed


def _ask(prompt, out):
    """One answer from stdin ('' at end of input), the prompt on ``out``."""
    out.write(prompt)
    out.flush()
    line = sys.stdin.readline()
    if not sys.stdin.isatty():  # a scripted session: echo the answer, so the transcript reads as typed
        out.write(line if line.endswith("\n") else line + "\n")
    return line.strip()


def _table(rows, out, with_rank=True):
    for rank, (item, value, title) in enumerate(rows, 1):
        prefix = f"{rank:>4}  " if with_rank else "      "
        out.write(f"{prefix}{item:>10}  {value:9.3f}  {title or ''}\n")


def _interactive(recommender, args, features, ratings, out):
    """Ask the missing profile fields, ratings of the items to ask about, then free ratings."""
    low, high = recommender.rating_range
    if args.user is None or recommender.known_user(args.user) is None:
        missing = [f for f in recommender.user_fields if f not in features and f != recommender.uid_field]
        if missing:
            out.write(f"Your profile ({recommender.feature_file('user')}; Enter leaves a field missing):\n")
        for name in missing:
            answer = _ask(f"  {name}: ", out)
            if answer:
                features[name] = answer
    k = args.ask if args.ask is not None else 5
    if k > 0:
        out.write(f"Rate these items ({low:g}-{high:g}; Enter skips):\n")
        for item, title in recommender.items_to_ask(k, args.ask_strategy):
            while True:
                answer = _ask(f"  {item} {title or ''}: ", out)
                if not answer:
                    break
                try:
                    recommender.check_ratings({item: answer})
                except ValueError as err:
                    out.write(f"  {err}; again, or Enter to skip\n")
                    continue
                ratings[item] = answer
                break
    while True:
        answer = _ask("More ratings as ITEM=RATING (Enter when done): ", out)
        if not answer:
            break
        try:
            extra = parse_pairs(answer.split(), "rating")
            recommender.check_ratings(extra)
        except ValueError as err:
            out.write(f"  {err}\n")
            continue
        ratings.update(extra)


def _episodic(args, out):
    from recbole_meta.serving.cold_start import ColdStartRecommender

    recommender = ColdStartRecommender.from_checkpoint(args.model_file, _overrides(args))
    features = parse_pairs(args.feature, "--feature")
    ratings = parse_pairs(args.rate, "--rate")
    if args.interactive:
        _interactive(recommender, args, features, ratings, out)
    elif args.ask:
        asked = recommender.items_to_ask(args.ask, args.ask_strategy)
        if args.json:
            out.write(json.dumps({"ask": [{"item": i, "title": t} for i, t in asked]}) + "\n")
        else:
            out.write(f"Items to rate first ({recommender.resolve_strategy(args.ask_strategy)}):\n")
            for item, title in asked:
                out.write(f"  {item:>10}  {title or ''}\n")
        if not ratings:
            return 0
    result = recommender.recommend(ratings, features=features, user=args.user, items=args.items, k=args.topk)
    if args.json:
        top = [{"item": i, "predicted": v, "title": t} for i, v, t in result.top]
        payload = {
            "predictions": result.predictions,
            "top": top,
            "support": result.support,
            "notes": result.notes,
        }
        out.write(json.dumps(payload) + "\n")
        return 0
    for note in result.notes:
        out.write(f"note: {note}\n")
    if result.predictions:
        out.write("Predicted ratings:\n")
        titles = recommender.titles(recommender.item_ids(list(result.predictions)))
        _table([(i, v, t) for (i, v), t in zip(result.predictions.items(), titles)], out, with_rank=False)
    out.write(f"Top {len(result.top)} for you (the catalogue minus the {len(result.support)} rated items):\n")
    _table(result.top, out)
    return 0


def _peterrec(args, out):
    """A PeterRec task checkpoint asked about one behaviour sequence."""
    from recbole_meta.serving.peterrec import PeterRecServer

    if args.sequence is None:
        raise ValueError(
            "a PeterRec task answers for a behaviour sequence: pass --sequence ITEM ... (oldest first)"
        )
    server = PeterRecServer.from_checkpoints(args.model_file, args.backbone, _overrides(args))
    answer = server.predict(args.sequence, k=args.topk or 10)
    if server.kind == "profile":
        rows = [{"class": c, "probability": p} for c, p in answer.classes]
        title = f"{server.task.name} (class probabilities):"
        lines = [f"  {c:>12}  {p:7.3f}" for c, p in answer.classes]
    else:
        rows = [{"item": i, "score": v} for i, v in answer.top]
        title = f"Top {len(answer.top)} target items:"
        lines = [f"{rank:>4}  {i:>10}  {v:9.3f}" for rank, (i, v) in enumerate(answer.top, 1)]
    if args.json:
        out.write(json.dumps({"task": server.task.name, "answer": rows, "notes": answer.notes}) + "\n")
        return 0
    for note in answer.notes:
        out.write(f"note: {note}\n")
    out.write(title + "\n" + "\n".join(lines) + "\n")
    return 0


def _known_user_topk(args, config, model, dataset, test_data, out):
    """RecBole's ``full_sort_topk`` for a known user of a non-episodic model."""
    from recbole.utils.case_study import full_sort_topk

    if args.feature or args.rate or args.items or args.ask or args.interactive:
        raise ValueError(
            f"{config['model']} is not an episodic model: it recommends for known users only (--user, --topk); "
            "profiles, ratings and onboarding need MeLU, MatchingNet or ProtoRec"
        )
    if args.user is None:
        raise ValueError("--user is required: the user token to recommend for")
    user_id = dataset.field2token_id[dataset.uid_field].get(args.user)
    if not user_id:
        raise ValueError(f"unknown user {args.user!r}: not in dataset '{dataset.dataset_name}'")
    scores, items = full_sort_topk([user_id], model, test_data, args.topk, device=config["device"])
    tokens = dataset.field2id_token[dataset.iid_field]
    top = [(str(tokens[i]), float(s), None) for i, s in zip(items[0].tolist(), scores[0].tolist())]
    if args.json:
        out.write(json.dumps({"top": [{"item": i, "score": s} for i, s, _ in top]}) + "\n")
    else:
        out.write(
            f"Top {len(top)} for user {args.user} (scores of {config['model']}; training items excluded):\n"
        )
        _table(top, out)
    return 0


def _overrides(args):
    """Config values replacing the stored ones: quiet logging (warnings only), a moved data folder."""
    overrides = {"state": "WARNING", "show_progress": False}
    if args.data_path:
        overrides["data_path"] = args.data_path
    return overrides


def main(argv=None, out=None):
    out = out or sys.stdout
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.topk < 0 or (args.ask is not None and args.ask < 0):
        parser.error("--topk and --ask must be >= 0")
    try:
        from recbole_meta.checkpoint import load_checkpoint
        from recbole_meta.model.meta_recommender import MetaRecommender
        from recbole_meta.registry import get_model

        stored = load_checkpoint(args.model_file).get("config") or {}
        if "model" in stored and issubclass(get_model(stored["model"]), MetaRecommender):
            return _episodic(args, out)
        if stored.get("model") == "PeterRec":
            return _peterrec(args, out)
        if args.sequence is not None or args.backbone:
            raise ValueError("--sequence and --backbone are for PeterRec task checkpoints")
        from recbole_meta.serving.saved_run import load_data_and_model

        config, model, dataset, _, _, test_data = load_data_and_model(args.model_file, _overrides(args))
        return _known_user_topk(args, config, model, dataset, test_data, out)
    except (ValueError, TypeError, FileNotFoundError, AttributeError) as err:
        print(f"recommend: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
