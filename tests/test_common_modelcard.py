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


def _edit_card(model_dir, change):
    card = json.loads((model_dir / modelcard.CARD).read_text())
    card = change(card)
    (model_dir / modelcard.CARD).write_text(json.dumps(card))


def test_a_card_without_files_is_refused_not_trusted_unchecked(model_dir):
    """Without "files" a bit-flipped weights file used to load unchecked (and crash later, or be used)."""
    p = model_dir / "weights.npy"
    p.write_bytes(p.read_bytes()[:-1] + b"\x01")
    _edit_card(model_dir, lambda c: {k: v for k, v in c.items() if k != "files"})
    for verify in (True, False):
        with pytest.raises(ModelError, match="has no 'files'") as err:
            modelcard.load(model_dir, "classifier", verify=verify)
        assert str(err.value).startswith(f"{model_dir}: ") and "\n" not in str(err.value)


@pytest.mark.parametrize("card, message", [
    ([{"kind": "classifier"}], "must be a JSON object, not a list"),
    ("classifier", "must be a JSON object, not a str"),
    (None, "must be a JSON object, not a NoneType"),
    ({"kind": "classifier", "files": "weights.npy"}, "'files' is a str"),
    ({"kind": "classifier", "files": ["weights.npy"]}, "'files' is a list"),
    ({"kind": "classifier", "files": {}}, "'files' is empty"),
    ({"kind": "classifier", "files": {"weights.npy": 3}}, "no valid SHA-256"),
    ({"kind": "classifier", "files": {"weights.npy": "abc"}}, "no valid SHA-256"),
    ({"kind": "classifier", "files": {"../clf/weights.npy": "0" * 64}}, "outside the model directory"),
    ({"kind": "classifier", "files": {"/etc/passwd": "0" * 64}}, "outside the model directory"),
])
def test_malformed_cards_are_one_line_model_errors(model_dir, card, message):
    (model_dir / modelcard.CARD).write_text(json.dumps(card))
    with pytest.raises(ModelError, match=message) as err:
        modelcard.load(model_dir, "classifier")
    assert str(err.value).startswith(f"{model_dir}: ") and "\n" not in str(err.value)


def test_a_card_that_is_not_text_or_not_readable(model_dir):
    (model_dir / modelcard.CARD).write_bytes(b"\xff\xfe\x00garbage\x81")
    with pytest.raises(ModelError, match="not valid JSON"):
        modelcard.load(model_dir, "classifier")
    (model_dir / modelcard.CARD).unlink()
    (model_dir / modelcard.CARD).mkdir()  # a folder where the card should be
    with pytest.raises(ModelError, match="no model_card.json"):
        modelcard.load(model_dir, "classifier")


def test_save_refuses_a_model_without_files(tmp_path):
    with pytest.raises(ValueError, match="no files"):
        modelcard.save(tmp_path / "m", "classifier", {"classes": ["x"]}, lambda d: None)
    assert list(tmp_path.iterdir()) == []


def test_the_committed_default_models_load_with_their_checksums():
    from mouseact.models import DEFAULT_BUNDLE, load_bundle

    bundle = load_bundle(DEFAULT_BUNDLE)
    for d, kind in ((bundle.classifier_dir, "classifier"), (bundle.localizer_dir, "localizer")):
        card = modelcard.load(d, kind)
        assert card["files"] and all((d / name).is_file() for name in card["files"])


def test_loaders_read_only_files_the_card_checksums(tmp_path):
    """A weight file left out of the card's list would be read unchecked: each loader refuses it."""
    import json
    import shutil

    from mouseact.classifier import Classifier
    from mouseact.errors import ModelError
    from mouseact.localizer import Localizer
    from mouseact.models import DEFAULT_BUNDLE

    for sub, loader, weights in (("classifier", Classifier.load, "weights.npz"),
                                 ("localizer", Localizer.load, "logreg.npz")):
        d = tmp_path / sub
        shutil.copytree(DEFAULT_BUNDLE / sub, d)
        loader(d)  # as shipped: fine
        card = json.loads((d / "model_card.json").read_text())
        del card["files"][weights]
        card["files"]["notes.txt"] = modelcard.sha256(d / "model_card.json")  # keep 'files' non-empty
        (d / "notes.txt").write_bytes((d / "model_card.json").read_bytes())
        (d / "model_card.json").write_text(json.dumps(card))
        with pytest.raises(ModelError, match=f"does not list {weights}"):
            loader(d)
