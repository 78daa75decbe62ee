"""NeuMF (He et al., 2017): a GMF branch and an MLP branch, fused into one logit."""

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class NeuMFConfig:
    gmf_dim: int = 16
    mlp_layers: tuple[int, ...] = (64, 32, 16)  # the first is the concatenated embedding width
    dropout: float = 0.0


class NeuMF(nn.Module):
    def __init__(self, n_users: int, n_items: int, config: NeuMFConfig):
        super().__init__()
        half = config.mlp_layers[0] // 2
        self.user_gmf = nn.Embedding(n_users, config.gmf_dim)
        self.item_gmf = nn.Embedding(n_items, config.gmf_dim)
        self.user_mlp = nn.Embedding(n_users, half)
        self.item_mlp = nn.Embedding(n_items, half)
        layers: list[nn.Module] = []
        for width_in, width_out in zip(config.mlp_layers, config.mlp_layers[1:], strict=False):
            layers += [nn.Linear(width_in, width_out), nn.ReLU(), nn.Dropout(config.dropout)]
        self.mlp = nn.Sequential(*layers)
        self.head = nn.Linear(config.gmf_dim + config.mlp_layers[-1], 1)
        for emb in (self.user_gmf, self.item_gmf, self.user_mlp, self.item_mlp):
            nn.init.normal_(emb.weight, std=0.01)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Logits of shape (B,), matching labels of shape (B,) (the seed returned (B, 1))."""
        gmf = self.user_gmf(users) * self.item_gmf(items)
        mlp = self.mlp(torch.cat([self.user_mlp(users), self.item_mlp(items)], dim=-1))
        return self.head(torch.cat([gmf, mlp], dim=-1)).squeeze(-1)
