"""mouseact.modelcard: artifacts written atomically, checked on load (kind, checksums)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mouseact import modelcard
from mouseact.errors import ModelError


def _weights(d):
    np.save(d / "weights.npy", np.arange(12, dtype=np.float32))
    (d / "tokenizer").mkdir()
    (d / "tokenizer" / "vocab.json").write_text('{"a": 0}')


@pytest.fixture
def model_dir(tmp_path):
    card = {"classes": ["groom", "rear"], "crop_policy": {"window": 15}, "metrics": {"top1": 0.5}}
    return modelcard.save(tmp_path / "clf", "classifier", card, _weights)


def test_save_and_load(model_dir):
    card = modelcard.load(model_dir, "classifier")
    assert card["kind"] == "classifier" and card["classes"] == ["groom", "rear"]
    assert set(card["files"]) == {"weights.npy", "tokenizer/vocab.json"}  # sub-folders too
    assert card["versions"]["python"] and "numpy" in card["versions"]
    assert modelcard.load(model_dir, ("localizer", "classifier"))["crop_policy"] == {"window": 15}


def test_wrong_kind(model_dir):
    with pytest.raises(ModelError, match="is a 'classifier', expected localizer") as err:
        modelcard.load(model_dir, "localizer")
    assert str(err.value).startswith(str(model_dir))


@pytest.mark.parametrize("damage", ["weights.npy", "tokenizer/vocab.json"])
def test_checksum_mismatch(model_dir, damage):
    p = model_dir / damage
    p.write_bytes(p.read_bytes()[:-1] + b"\x00")
    with pytest.raises(ModelError, match=f"{damage} does not match its checksum"):
        modelcard.load(model_dir, "classifier")
    assert modelcard.load(model_dir, "classifier", verify=False)["kind"] == "classifier"


def test_missing_pieces(model_dir, tmp_path):
    (model_dir / "weights.npy").unlink()
    with pytest.raises(ModelError, match="weights.npy is missing"):
        modelcard.load(model_dir, "classifier")
    with pytest.raises(ModelError, match="not found"):
        modelcard.load(tmp_path / "nowhere", "classifier")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="no model_card.json"):
        modelcard.load(tmp_path / "empty", "classifier")
    (model_dir / modelcard.CARD).write_text("{oops")
    with pytest.raises(ModelError, match="not valid JSON"):
        modelcard.load(model_dir, "classifier")


def test_failed_save_leaves_the_previous_model(model_dir):
    before = json.loads((model_dir / modelcard.CARD).read_text())

    def crash(d):
        (d / "weights.npy").write_bytes(b"partial")
        raise RuntimeError("training crashed while saving")

    with pytest.raises(RuntimeError):
        modelcard.save(model_dir, "classifier", {"classes": ["x"]}, crash)
    assert json.loads((model_dir / modelcard.CARD).read_text()) == before
    assert modelcard.load(model_dir, "classifier")["classes"] == ["groom", "rear"]
    assert sorted(p.name for p in model_dir.parent.iterdir()) == ["clf"]
