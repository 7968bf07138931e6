"""Cold-start inference: a trained episodic model predicts for a user in no file from a profile and a few ratings."""

import json

import numpy as np
import pytest

from recbole_meta import run_recbole_meta
from recbole_meta.model.meta_recommender.evidence import select_evidence_candidates
from recbole_meta.registry import get_trainer
from recbole_meta.serving import ColdStartRecommender, UnknownItemsError, load_data_and_model
from tests.cold_start_helpers import cold_config
from tests.helpers import run_python

MODELS = ("MeLU", "MatchingNet", "ProtoRec")
OVERRIDES = {"ProtoRec": {"like_threshold": 4}, "MatchingNet": {"hidden_size": 8}}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One trained checkpoint per episodic model (tiny data, one epoch)."""
    root = tmp_path_factory.mktemp("serving")
    files = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        for model in MODELS:
            config = cold_config(epochs=1, **OVERRIDES.get(model, {}))
            saved = run_recbole_meta(model, "tiny", config_dict=config, argv=[])["saved_model_file"]
            files[model] = str(root / saved)
    yield files


def _raw_profile(dataset, user_id, fields):
    return {f: str(dataset.field2id_token[f][int(dataset.user_feat[f][user_id])]) for f in fields}


@pytest.mark.parametrize("model_name", MODELS)
def test_predictions_equal_the_test_time_path_for_the_same_support(trained, model_name):
    config, model, dataset, _, _, test_data = load_data_and_model(trained[model_name])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    loader = test_data["user_cold"]
    scores, _, task_index = trainer.predict_tasks(loader)
    recommender = ColdStartRecommender(config, model, dataset)
    split, tokens = model.split, dataset.field2id_token[dataset.iid_field]
    for t, task in enumerate(loader.tasks[:4]):
        # the test user as a brand-new one: raw profile tokens and raw item tokens only, no user id
        profile = _raw_profile(dataset, task.user, recommender.user_fields)
        support = {str(tokens[i]): r for i, r in zip(split.items[task.support], split.ratings[task.support])}
        query = [str(tokens[i]) for i in split.items[task.query]]
        result = recommender.recommend(support, features=profile, items=query, k=3)
        expected = scores[task_index == t]
        np.testing.assert_allclose([result.predictions[q] for q in query], expected.numpy(), atol=1e-5)
        assert not set(item for item, _, _ in result.top) & set(support)


def test_a_user_in_no_file_gets_a_ranked_catalogue_minus_what_they_rated(trained):
    recommender = ColdStartRecommender.from_checkpoint(trained["MeLU"])
    assert recommender.known_user("someone-new") is None
    ratings = {"i1": 5, "i2": 1, "i30": 4}
    result = recommender.recommend(ratings, features={"age": "25", "gender": "F"}, k=50)
    ranked = [item for item, _, _ in result.top]
    n_items = recommender.dataset.item_num - 1  # minus the padding id
    assert len(ranked) == n_items - 3 and not set(ranked) & set(ratings)
    # the top-k scores are the predictions of those items, in order
    asked = recommender.recommend(ratings, features={"age": "25", "gender": "F"}, items=ranked[:5], k=0)
    assert [asked.predictions[i] for i in ranked[:5]] == pytest.approx([v for _, v, _ in result.top[:5]])
    assert [v for _, v, _ in result.top] == sorted((v for _, v, _ in result.top), reverse=True)
    # what was rated moves the predictions (the support is adapted to)
    other = recommender.recommend(
        {"i1": 1, "i2": 5, "i30": 1}, features={"age": "25", "gender": "F"}, items=["i5"]
    )
    assert other.predictions["i5"] != pytest.approx(
        recommender.recommend(ratings, features={"age": "25", "gender": "F"}, items=["i5"]).predictions["i5"]
    )


def test_unknown_tokens_and_items_are_reported_by_name(trained):
    recommender = ColdStartRecommender.from_checkpoint(trained["MeLU"])
    result = recommender.recommend({"i1": 4}, features={"age": "999", "gender": "F"}, items=["i2"])
    assert any("age: token '999' is not in" in note for note in result.notes)
    # an unknown token counts as missing: the same predictions as leaving the field out
    missing = recommender.recommend({"i1": 4}, features={"gender": "F"}, items=["i2"])
    assert missing.predictions == result.predictions
    assert any("age: not given" in note for note in missing.notes)
    with pytest.raises(UnknownItemsError, match="'nope', 'gone'") as error:
        recommender.recommend({"i1": 4, "nope": 3}, items=["gone"])
    assert error.value.items == ["nope", "gone"]
    with pytest.raises(ValueError, match=r"user feature\(s\) \['shoe_size'\] are not fields of"):
        recommender.recommend({"i1": 4}, features={"shoe_size": "42"})
    with pytest.raises(ValueError, match=r"rating of item 'i1' must be in \[1, 5\], got 9"):
        recommender.recommend({"i1": 9})


def test_a_known_user_is_their_file_profile_and_ratings(trained):
    recommender = ColdStartRecommender.from_checkpoint(trained["MeLU"])
    dataset = recommender.dataset
    user = "u3"
    user_id = recommender.known_user(user)
    known = recommender.recommend(user=user, items=["i1", "i2"], k=5)
    profile = _raw_profile(dataset, user_id, recommender.user_fields)
    as_new = recommender.recommend(known.support, features=profile, items=["i1", "i2"], k=5)
    assert known.predictions == pytest.approx(as_new.predictions)
    assert known.top == as_new.top
    with pytest.raises(ValueError, match="give no features"):
        recommender.recommend(user=user, features={"age": "25"})


def test_onboarding_asks_evidence_candidates_or_popular_items(trained):
    melu = ColdStartRecommender.from_checkpoint(trained["MeLU"])
    expected = select_evidence_candidates(
        melu.model, melu.dataset, k=3, personalised=["decision.*", "output.*"], pool=100
    )
    assert [item for item, _ in melu.items_to_ask(3)] == [c["item"] for c in expected]
    matching = ColdStartRecommender.from_checkpoint(trained["MatchingNet"])
    popular = [item for item, _ in matching.items_to_ask(3)]
    _, train_items, _ = matching.split.train_interactions()
    counts = np.bincount(train_items, minlength=matching.dataset.item_num)
    ids = [matching.item_ids([item])[0] for item in popular]
    assert sorted(counts[ids], reverse=True) == list(counts[ids]) and counts[ids[-1]] >= np.sort(counts)[-3]
    with pytest.raises(ValueError, match="MatchingNet has local_update_steps 0"):
        matching.items_to_ask(3, strategy="evidence")


# ---------------------------------------------------------------------------------------------- the command
def _command(args, capsys):
    from recbole_meta.recommend import main

    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_command_recommends_for_a_user_in_no_file_from_three_ratings(trained, capsys):
    args = [f"--model_file={trained['MeLU']}", "--feature", "age=25", "--feature", "gender=Q"]
    ratings = ["--rate", "i1=5", "--rate", "i2=1", "--rate", "i30=4"]
    code, out, _ = _command(args + ratings + ["--topk=4", "--items", "i5"], capsys)
    assert code == 0
    assert "note: user feature gender: token 'Q' is not in" in out
    assert "Top 4 for you (the catalogue minus the 3 rated items)" in out
    code, out, _ = _command(args + ratings + ["--topk=4", "--json"], capsys)
    payload = json.loads(out)
    expected = ColdStartRecommender.from_checkpoint(trained["MeLU"]).recommend(
        {"i1": "5", "i2": "1", "i30": "4"}, features={"age": "25", "gender": "Q"}, k=4
    )
    assert [(t["item"], t["predicted"]) for t in payload["top"]] == [(i, v) for i, v, _ in expected.top]
    assert payload["notes"] == expected.notes


def test_command_errors_name_the_unknown_items_in_one_line(trained, capsys):
    code, _, err = _command([f"--model_file={trained['MeLU']}", "--rate", "zz=5", "--items", "yy"], capsys)
    assert code == 2
    assert err.strip().splitlines() == [
        "recommend: error: unknown item(s) 'zz', 'yy': not in dataset 'tiny' (give raw item tokens as in the "
        ".inter / .item files)"
    ]
    code, _, err = _command([f"--model_file={trained['MeLU']}", "--rate", "i1"], capsys)
    assert code == 2 and "--rate 'i1' must be written KEY=VALUE" in err


def test_command_onboarding_prints_the_items_to_ask(trained, capsys):
    code, out, _ = _command([f"--model_file={trained['MatchingNet']}", "--ask=3", "--json"], capsys)
    asked = [entry["item"] for entry in json.loads(out.splitlines()[0])["ask"]]
    recommender = ColdStartRecommender.from_checkpoint(trained["MatchingNet"])
    assert code == 0 and asked == [item for item, _ in recommender.items_to_ask(3)]


def test_terminal_session_asks_rates_and_recommends(trained):
    """The interactive command driven through stdin: profile, rate the items asked, more ratings, top-k."""
    recommender = ColdStartRecommender.from_checkpoint(trained["MeLU"])
    asked = [item for item, _ in recommender.items_to_ask(3)]
    typed = ["25", "", "4", "", "9", "2", "zz=4", "i9=5", ""]  # age, no gender, ratings (9 refused), extras
    session = run_python(
        "-m",
        "recbole_meta.recommend",
        f"--model_file={trained['MeLU']}",
        "--interactive",
        "--ask=3",
        "--topk=3",
        input="\n".join(typed) + "\n",
    )
    assert session.returncode == 0, session.stderr
    out = session.stdout
    steps = [
        "  age: 25",
        "  gender: ",
        f"  {asked[0]} : 4",
        f"  {asked[1]} : ",
        f"  {asked[2]} : 9",
        "must be in [1, 5], got '9'; again",
        f"  {asked[2]} : 2",
        "unknown item(s) 'zz'",
        "(Enter when done): i9=5",
        "Top 3 for you (the catalogue minus the 3 rated items)",
    ]
    positions = [out.find(step) for step in steps]
    assert -1 not in positions and positions == sorted(positions), out
    expected = recommender.recommend({asked[0]: 4, asked[2]: 2, "i9": 5}, features={"age": "25"}, k=3)
    for rank, (item, value, _) in enumerate(expected.top, 1):
        assert f"{rank:>4}  {item:>10}  {value:9.3f}" in out


def test_command_ranks_for_a_known_user_of_a_builtin_model(trained, capsys, tiny_config_dict):
    from recbole.utils.case_study import full_sort_topk

    result = run_recbole_meta("BPR", "tiny", config_dict={**tiny_config_dict, "epochs": 1}, argv=[])
    code, out, _ = _command(
        [f"--model_file={result['saved_model_file']}", "--user=u3", "--topk=3", "--json"], capsys
    )
    config, model, dataset, _, _, test_data = load_data_and_model(result["saved_model_file"])
    _, items = full_sort_topk([dataset.token2id("user_id", "u3")], model, test_data, 3)
    assert code == 0
    assert [t["item"] for t in json.loads(out)["top"]] == list(dataset.id2token("item_id", items[0].numpy()))
    code, _, err = _command(
        [f"--model_file={result['saved_model_file']}", "--user=u3", "--rate", "i1=4"], capsys
    )
    assert code == 2 and "BPR is not an episodic model" in err
