"""PeterRec serving: backbone + task checkpoint answer for a raw behaviour sequence as the task's own rows do."""

import json

import pytest
import torch

from recbole_meta import run_recbole_meta
from recbole_meta.data.sequence_tasks import user_histories
from recbole_meta.recommend import main
from recbole_meta.serving import PeterRecServer, UnknownItemsError, load_data_and_model
from tests.peterrec_planted import planted_config, write_planted


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """A tiny backbone pre-trained on the source domain, and a gender and a transfer task fine-tuned on it."""
    root = tmp_path_factory.mktemp("peterrec_serving")
    write_planted(root)
    backbone = str(root / "backbone.pth")
    files = {"backbone": backbone}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        pretrain = planted_config(
            root, stage="pretrain", pretrain_domain="source", epochs=2, pretrained_save_path=backbone
        )
        run_recbole_meta("PeterRec", "planted", config_dict=pretrain, argv=[])
        for task in ("gender", "transfer"):
            config = planted_config(
                root, stage="finetune", pretrained_path=backbone, downstream_task=task, epochs=2
            )
            saved = run_recbole_meta("PeterRec", "planted", config_dict=config, argv=[])["saved_model_file"]
            files[task] = str(root / saved)
    yield files


def _raw_histories(server):
    """Each user's whole history (every domain) as raw item tokens, oldest first."""
    tokens = server.task.item_tokens
    return [[tokens[i] for i in history] for history in user_histories(server.dataset)]


def test_profile_from_a_raw_sequence_equals_the_tasks_own_rows(checkpoints):
    server = PeterRecServer.from_checkpoints(checkpoints["gender"])
    assert server.kind == "profile" and server.model.mode == "peterrec"
    test = server.task.splits["test"]
    histories = _raw_histories(server)
    users = test.fields[server.config["USER_ID_FIELD"]].tolist()
    with torch.no_grad():
        expected = torch.softmax(server.model.predict(test.interaction(range(len(test))).to("cpu")), dim=-1)
    for row, user in enumerate(users[:12]):
        answer = server.predict(histories[user])  # target-domain items included: the server leaves them out
        probabilities = dict(answer.classes)
        for c, name in enumerate(server.task.output_names):
            assert probabilities[name] == pytest.approx(float(expected[row, c]), abs=1e-6)
        assert [p for _, p in answer.classes] == sorted(probabilities.values(), reverse=True)


def test_transfer_ranks_target_items_for_a_raw_sequence(checkpoints):
    server = PeterRecServer.from_checkpoints(checkpoints["transfer"], backbone=checkpoints["backbone"])
    test = server.task.splits["test"]
    histories = _raw_histories(server)
    user = int(test.fields[server.config["USER_ID_FIELD"]][0])
    answer = server.predict(histories[user], k=5)
    scores = server.model.full_sort_predict(test.interaction([0]).to("cpu"))[0]
    outputs = {token: j for j, token in enumerate(server.task.output_names)}
    seen = {outputs[t] for t in histories[user] if t in outputs}
    scores[list(seen)] = float("-inf")
    expected = torch.topk(scores, 5).indices.tolist()
    assert [item for item, _ in answer.top] == [server.task.output_names[j] for j in expected]
    assert not {item for item, _ in answer.top} & {server.task.output_names[j] for j in seen}
    assert any("outside the task's source domain" in note for note in answer.notes)
    empty = server.predict([], k=3)
    assert any("[MASK]" in note for note in empty.notes) and len(empty.top) == 3


def test_unknown_items_and_a_foreign_backbone_are_refused(checkpoints, tmp_path):
    server = PeterRecServer.from_checkpoints(checkpoints["gender"])
    with pytest.raises(UnknownItemsError, match="'nope', 'zz'"):
        server.predict(["s1", "nope", "zz"])
    with pytest.raises(TypeError, match="fine-tuned PeterRec task checkpoint"):
        PeterRecServer.from_checkpoints(checkpoints["backbone"])


def test_command_serves_a_task_checkpoint(checkpoints, capsys):
    code = main([f"--model_file={checkpoints['gender']}", "--sequence", "s0", "s1", "t0", "--json"])
    payload = json.loads(capsys.readouterr().out)
    server = PeterRecServer.from_checkpoints(checkpoints["gender"])
    expected = server.predict(["s0", "s1", "t0"])
    assert code == 0 and payload["task"] == "gender"
    assert [(r["class"], r["probability"]) for r in payload["answer"]] == expected.classes
    assert main([f"--model_file={checkpoints['transfer']}", "--sequence", "s0", "bogus"]) == 2
    assert "unknown item(s) 'bogus'" in capsys.readouterr().err


def test_recboles_full_sort_topk_ranks_a_transfer_users_rows(checkpoints):
    from recbole.utils.case_study import full_sort_topk

    config, model, _, _, _, test_data = load_data_and_model(checkpoints["transfer"])
    split = test_data._dataset
    users = split.fields[config["USER_ID_FIELD"]]
    chosen = users.unique()[:3]
    rows = torch.cat([(users == u).nonzero(as_tuple=True)[0] for u in chosen])  # RecBole's row order
    expected = model.full_sort_predict(split.interaction(rows))
    expected[:, 0] = float("-inf")
    scores, items = full_sort_topk(chosen.tolist(), model, test_data, 4)
    assert items.tolist() == torch.topk(expected, 4).indices.tolist()
    assert len(items) == len(rows) >= len(chosen)  # one ranking per row, as for any sequential dataset
    config, model, _, _, _, test_data = load_data_and_model(checkpoints["gender"])
    with pytest.raises(ValueError, match="profile"):
        full_sort_topk([1], model, test_data, 4)
