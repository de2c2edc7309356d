"""Heads that turn embeddings into class scores.

* :class:`MLPHead` — a one-hidden-layer network trained in torch (class-weighted loss, early
  stopping on a validation split), stored as plain numpy arrays so inference needs no torch.
* :class:`PrototypeHead` — few-shot: one centroid per class (``k=1``, prototypes = class
  means) or ``k`` k-means centroids per class; nearest centroid wins; a segment farther than
  the class's radius from every centroid is ``"unknown"`` (open set).
* :func:`fit_temperature` — temperature scaling (Guo et al. 2017) on held-out logits so the
  confidences mean what they say.

All heads work on standardised embeddings (:class:`Standardizer`).
"""

from __future__ import annotations

import numpy as np

UNKNOWN = "unknown"


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class Standardizer:
    def __init__(self, mean: np.ndarray, scale: np.ndarray):
        self.mean = np.asarray(mean, np.float32)
        self.scale = np.asarray(scale, np.float32)

    @classmethod
    def fit(cls, x: np.ndarray) -> Standardizer:
        sd = x.std(0)
        return cls(x.mean(0), np.where(sd > 1e-8, sd, 1.0))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return ((np.asarray(x, np.float32) - self.mean) / self.scale).astype(np.float32)

    def arrays(self, prefix: str) -> dict:
        return {f"{prefix}mean": self.mean, f"{prefix}scale": self.scale}


class MLPHead:
    """``logits = relu(x W1 + b1) W2 + b2`` (numpy at inference)."""

    def __init__(self, weights: dict[str, np.ndarray]):
        self.w = {k: np.asarray(v, np.float32) for k, v in weights.items()}

    def logits(self, x: np.ndarray) -> np.ndarray:
        h = np.maximum(x @ self.w["w1"] + self.w["b1"], 0)
        return h @ self.w["w2"] + self.w["b2"]

    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        y: np.ndarray,
        n_classes: int,
        x_val: np.ndarray | None = None,
        y_val: np.ndarray | None = None,
        hidden: int = 64,
        dropout: float = 0.3,
        lr: float = 3e-3,
        weight_decay: float = 1e-3,
        max_epochs: int = 300,
        patience: int = 30,
        seed: int = 0,
        input_noise: float = 0.1,
    ) -> tuple[MLPHead, dict]:
        """Full-batch AdamW with inverse-frequency class weights; keeps the epoch with the best
        validation loss (early stopping); without validation data trains ``max_epochs // 3``."""
        import torch

        torch.manual_seed(seed)
        xt = torch.as_tensor(x, dtype=torch.float32)
        yt = torch.as_tensor(y, dtype=torch.long)
        counts = np.bincount(y, minlength=n_classes).astype(np.float64)
        weights = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / max((counts > 0).sum(), 1), 0.0)
        loss_fn = torch.nn.CrossEntropyLoss(weight=torch.as_tensor(weights, dtype=torch.float32))
        net = torch.nn.Sequential(
            torch.nn.Linear(x.shape[1], hidden),
            torch.nn.ReLU(),
            torch.nn.Dropout(dropout),
            torch.nn.Linear(hidden, n_classes),
        )
        opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
        has_val = x_val is not None and len(x_val) > 0
        if has_val:
            xv = torch.as_tensor(x_val, dtype=torch.float32)
            yv = torch.as_tensor(y_val, dtype=torch.long)
        best, best_state, best_epoch, since = np.inf, None, 0, 0
        epochs = max_epochs if has_val else max(max_epochs // 3, 1)
        history = []
        for epoch in range(epochs):
            net.train()
            opt.zero_grad()
            xin = xt + input_noise * torch.randn_like(xt) if input_noise else xt
            loss = loss_fn(net(xin), yt)
            loss.backward()
            opt.step()
            if has_val:
                net.eval()
                with torch.no_grad():
                    vloss = float(torch.nn.functional.cross_entropy(net(xv), yv))
                history.append(vloss)
                if vloss < best - 1e-4:
                    best, best_epoch, since = vloss, epoch, 0
                    best_state = {k: v.clone() for k, v in net.state_dict().items()}
                else:
                    since += 1
                    if since >= patience:
                        break
        if best_state is not None:
            net.load_state_dict(best_state)
        sd = {k: v.detach().numpy() for k, v in net.state_dict().items()}
        head = cls({"w1": sd["0.weight"].T, "b1": sd["0.bias"], "w2": sd["3.weight"].T, "b2": sd["3.bias"]})
        info = {
            "epochs_run": len(history) if has_val else epochs,
            "best_epoch": int(best_epoch),
            "best_val_loss": None if not has_val else round(float(best), 4),
        }
        return head, info

    def arrays(self, prefix: str) -> dict:
        return {f"{prefix}{k}": v for k, v in self.w.items()}


class PrototypeHead:
    """Nearest centroid over ``k`` centroids per class; open-set radius per class."""

    def __init__(self, centroids: np.ndarray, centroid_class: np.ndarray, radius: np.ndarray, tau: float):
        self.centroids = np.asarray(centroids, np.float32)  # (M, D)
        self.centroid_class = np.asarray(centroid_class, int)  # (M,)
        self.radius = np.asarray(radius, np.float32)  # (C,) distance beyond which: unknown
        self.tau = float(tau)

    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        y: np.ndarray,
        n_classes: int,
        k: int = 1,
        radius_quantile: float = 0.95,
        radius_margin: float = 1.5,
        seed: int = 0,
    ) -> PrototypeHead:
        cents, owner = [], []
        for c in range(n_classes):
            xc = x[y == c]
            if len(xc) == 0:
                continue
            kc = min(k, len(np.unique(xc, axis=0)))  # k-means cannot place more centroids than points
            if kc == 1:
                cents.append(xc.mean(0, keepdims=True))
            else:
                from sklearn.cluster import KMeans

                cents.append(KMeans(kc, n_init=4, random_state=seed).fit(xc).cluster_centers_)
            owner += [c] * len(cents[-1])
        cents = np.concatenate(cents).astype(np.float32)
        owner = np.asarray(owner)
        head = cls(cents, owner, np.full(n_classes, np.inf, np.float32), tau=1.0)
        d = head.class_distances(x, n_classes)
        own = d[np.arange(len(x)), y]
        # temperature of the distance softmax: typical distance to the own class
        head.tau = float(max(np.median(own), 1e-3))
        radius = np.full(n_classes, np.inf, np.float32)
        for c in range(n_classes):
            oc = own[y == c]
            if len(oc) >= 2:
                radius[c] = np.quantile(oc, radius_quantile) * radius_margin
            elif len(oc) == 1:  # one shot: no spread to learn from; use the typical spread of all classes
                radius[c] = np.quantile(own, radius_quantile) * radius_margin
        head.radius = radius
        return head

    def class_distances(self, x: np.ndarray, n_classes: int) -> np.ndarray:
        d = np.sqrt(((x[:, None, :] - self.centroids[None]) ** 2).sum(-1))  # (N, M)
        out = np.full((len(x), n_classes), np.inf, np.float32)
        for c in np.unique(self.centroid_class):
            out[:, c] = d[:, self.centroid_class == c].min(1)
        return out

    def logits(self, x: np.ndarray, n_classes: int) -> np.ndarray:
        d = self.class_distances(x, n_classes)
        return np.where(np.isfinite(d), -d / self.tau, -1e9)

    def is_unknown(self, x: np.ndarray, n_classes: int) -> np.ndarray:
        d = self.class_distances(x, n_classes)
        return (d > self.radius[None]).all(1)

    def arrays(self, prefix: str) -> dict:
        return {
            f"{prefix}centroids": self.centroids,
            f"{prefix}centroid_class": self.centroid_class,
            f"{prefix}radius": self.radius,
            f"{prefix}tau": np.float32(self.tau),
        }


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature T minimising the NLL of ``softmax(logits / T)`` (grid + refine; 1-D convex)."""
    if len(y) == 0:
        return 1.0

    def nll(t):
        p = softmax(logits / t)
        return -np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None)).mean()

    grid = np.exp(np.linspace(np.log(0.05), np.log(20), 61))
    t = grid[int(np.argmin([nll(g) for g in grid]))]
    fine = t * np.exp(np.linspace(-0.1, 0.1, 21))
    return float(fine[int(np.argmin([nll(g) for g in fine]))])


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    conf = probs.max(1)
    correct = probs.argmax(1) == y
    edges = np.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (conf > lo) & (conf <= hi)
        if sel.any():
            ece += sel.mean() * abs(correct[sel].mean() - conf[sel].mean())
    return float(ece)
