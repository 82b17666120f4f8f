"""StarWhisper LightCurve's 1D-Conv + BiLSTM classifier for phase-folded light curves."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ConvBiLSTMConfig:
    """Architecture; ``n_layers`` conv blocks with F, 2F, 4F filters, each halving the length."""

    n_classes: int
    n_aux: int
    fold_length: int
    n_layers: int = 3
    filters: int = 64
    dropout: float = 0.3
    lstm_hidden: int = 128
    fc: int = 64
    kernel: int = 5

    def as_dict(self) -> dict:
        return asdict(self)


class ConvBiLSTM(nn.Module):
    """Conv1D blocks (Conv → BatchNorm → ReLU → MaxPool) → BiLSTM(128) → FC(64) → classes.

    Scalar features (period, amplitude, ...) join the BiLSTM summary before the FC layer, because
    folding removes the time scale that separates e.g. delta Scuti from gamma Doradus stars. Their
    standardisation statistics are buffers, so they travel with the weights.
    """

    def __init__(self, cfg: ConvBiLSTMConfig):
        super().__init__()
        self.cfg = cfg
        blocks: list[nn.Module] = []
        channels = 1
        for i in range(cfg.n_layers):
            out = cfg.filters * 2**i
            blocks += [
                nn.Conv1d(channels, out, cfg.kernel, padding=cfg.kernel // 2),
                nn.BatchNorm1d(out),
                nn.ReLU(),
                nn.MaxPool1d(2),
            ]
            channels = out
        self.conv = nn.Sequential(*blocks)
        self.lstm = nn.LSTM(channels, cfg.lstm_hidden, batch_first=True, bidirectional=True)
        self.head = nn.Sequential(
            nn.Dropout(cfg.dropout),
            nn.Linear(2 * cfg.lstm_hidden + cfg.n_aux, cfg.fc),
            nn.ReLU(),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.fc, cfg.n_classes),
        )
        self.register_buffer("aux_mean", torch.zeros(cfg.n_aux))
        self.register_buffer("aux_std", torch.ones(cfg.n_aux))

    def set_aux_stats(self, aux: torch.Tensor) -> None:
        self.aux_mean.copy_(aux.mean(0))
        self.aux_std.copy_(aux.std(0).clamp_min(1e-6))

    def forward(self, folded: torch.Tensor, aux: torch.Tensor) -> torch.Tensor:
        h = self.conv(folded.unsqueeze(1))            # (B, C, L')
        _, (h_n, _) = self.lstm(h.transpose(1, 2))    # h_n: (2, B, H), both directions
        summary = torch.cat([h_n[0], h_n[1]], dim=1)
        z = torch.cat([summary, (aux - self.aux_mean) / self.aux_std], dim=1)
        return self.head(z)
