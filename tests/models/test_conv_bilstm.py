import pytest
import torch

from lcml.models.conv_bilstm import ConvBiLSTM, ConvBiLSTMConfig


@pytest.mark.parametrize("n_layers", [1, 2, 3])
def test_layout_and_output_shape(n_layers):
    cfg = ConvBiLSTMConfig(n_classes=6, n_aux=3, fold_length=128, n_layers=n_layers, filters=32)
    model = ConvBiLSTM(cfg)
    convs = [m for m in model.conv if isinstance(m, torch.nn.Conv1d)]
    assert [c.out_channels for c in convs] == [32 * 2**i for i in range(n_layers)]  # F, 2F, 4F
    assert model.lstm.bidirectional and model.lstm.hidden_size == 128
    assert model.head[1].out_features == 64
    out = model(torch.randn(5, 128), torch.randn(5, 3))
    assert out.shape == (5, 6)


def test_aux_statistics_travel_with_the_weights():
    cfg = ConvBiLSTMConfig(n_classes=2, n_aux=3, fold_length=32, n_layers=1, filters=8)
    model = ConvBiLSTM(cfg)
    model.set_aux_stats(torch.tensor([[1.0, 2, 3], [3.0, 6, 9]]))
    state = model.state_dict()
    assert torch.allclose(state["aux_mean"], torch.tensor([2.0, 4, 6]))
    other = ConvBiLSTM(cfg)
    other.load_state_dict(state)
    assert torch.allclose(other.aux_std, model.aux_std)
