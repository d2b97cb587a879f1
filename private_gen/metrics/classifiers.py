"""Downstream classifiers for "train on synthetic, test on real": logistic regression and a small CNN.

Both train for a fixed budget given in config; nothing is selected on the real test split, which is only
scored once at the end.
"""

from __future__ import annotations

import torch
from sklearn.linear_model import LogisticRegression
from torch import nn
from torch.nn import functional as F


class SmallCNN(nn.Module):
    """Two conv blocks and a 128-unit layer; its penultimate layer is the Fréchet feature space."""

    feature_dim = 128

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4))
        self.fc = nn.Linear(64 * 16, self.feature_dim)
        self.head = nn.Linear(self.feature_dim, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.fc(self.conv(x).flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def train_cnn(x: torch.Tensor, y: torch.Tensor, num_classes: int, epochs: int, seed: int,
              batch_size: int = 128, lr: float = 1e-3, device: torch.device | str = "cpu") -> SmallCNN:
    """A SmallCNN trained on `device`, returned on the CPU in eval mode."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = SmallCNN(x.shape[1], num_classes).to(device)
    x, y = x.to(device), y.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=gen).to(device).split(batch_size):
            loss = F.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.cpu().eval()


@torch.no_grad()
def cnn_accuracy(model: SmallCNN, x: torch.Tensor, y: torch.Tensor) -> float:
    predictions = torch.cat([model(xb).argmax(1) for xb in x.split(1024)])
    return (predictions == y).float().mean().item()


def logistic_regression_accuracy(x_train: torch.Tensor, y_train: torch.Tensor, x_test: torch.Tensor,
                                 y_test: torch.Tensor, max_iter: int, seed: int) -> float:
    """Multinomial logistic regression on pixels (scikit-learn, L2 penalty C=1)."""
    if len(torch.unique(y_train)) < 2:
        return float((y_test == y_train[0]).float().mean())
    model = LogisticRegression(max_iter=max_iter, random_state=seed)
    model.fit(x_train.flatten(1).numpy(), y_train.numpy())
    return float(model.score(x_test.flatten(1).numpy(), y_test.numpy()))


def synthetic_to_real_accuracy(x_syn: torch.Tensor, y_syn: torch.Tensor, x_real: torch.Tensor, y_real: torch.Tensor,
                               num_classes: int, cnn_epochs: int, logreg_max_iter: int, seed: int,
                               device: torch.device | str = "cpu") -> dict[str, float]:
    """Accuracy on real test images of both classifiers trained on the synthetic set (the CNN on `device`)."""
    cnn = train_cnn(x_syn, y_syn, num_classes, cnn_epochs, seed, device=device)
    return {"cnn_accuracy": cnn_accuracy(cnn, x_real, y_real),
            "logreg_accuracy": logistic_regression_accuracy(x_syn, y_syn, x_real, y_real, logreg_max_iter, seed)}
