"""Sequential neural candidate generator: a GRU over the session, read out NARM-style.

Transition counts and session-kNN see a history as a (recency-weighted) bag of items; this
generator reads it in order. Every training sequence is run through a GRU over shared item
embeddings, and every position learns to predict the next item (the SR-GNN training examples,
one pass per sequence). The representation of a prefix is its last hidden state joined with an
attention-pooled summary of all its hidden states (NARM / SR-GNN's readout); an item's score is
the dot product with its embedding, the same table the input uses (tied embeddings). Training
uses softmax cross-entropy over all items, or, to fit a CPU budget, a sampled softmax over a
shared set of popularity-sampled negatives with the log-probability correction. Interaction
weights and timestamps are ignored: the order of the items is the signal. Learned weights are
stored as numpy arrays, so fitted models pickle without live torch modules and load on a server
without a GPU. Training and scoring run on a CUDA GPU when torch sees one, on the CPU otherwise.
:meth:`SequentialRecommender.refit` continues training the fitted network on new data for a
few epochs instead of starting over (the pipeline's second fit on all the data).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as functional
from torch import nn
from torch.autograd.function import once_differentiable

from shopwise.recommend.candidates._histories import check_fitted, top_similar
from shopwise.recommend.candidates._protocol import FloatArray, IntArray, InteractionData
from shopwise.recommend.candidates.sequential_config import SequentialConfig

__all__ = ["SequentialConfig", "SequentialRecommender", "SequentialState"]


@dataclass
class SequentialState:
    """Learned state: the network weights as numpy arrays and which items were seen."""

    weights: dict[str, FloatArray]
    seen: npt.NDArray[np.bool_]
    """Items that occur in the training data; the others are never recommended."""
    unit_embeddings: FloatArray = field(repr=False)
    """Row-normalized item embeddings for :meth:`SequentialRecommender.similar_items`."""


class _Network(nn.Module):
    """GRU over item embeddings (row 0 is padding) with an optional attention readout."""

    def __init__(self, n_items: int, config: SequentialConfig) -> None:
        super().__init__()
        dim = config.dim
        self.embedding = nn.Embedding(n_items + 1, dim, padding_idx=0)
        nn.init.normal_(self.embedding.weight, std=dim**-0.5)
        with torch.no_grad():
            self.embedding.weight[0].zero_()
        self.gru = nn.GRU(dim, dim, num_layers=config.layers, batch_first=True)
        self.dropout = nn.Dropout(config.dropout)
        self.attention = config.attention
        if config.attention:
            self.query = nn.Linear(dim, dim, bias=False)
            self.key = nn.Linear(dim, dim)
            self.energy = nn.Linear(dim, 1, bias=False)
            self.readout = nn.Linear(2 * dim, dim, bias=False)

    def states(self, items: torch.Tensor) -> torch.Tensor:
        """Hidden states ``(batch, length, dim)`` of right-padded item sequences."""
        hidden, _ = self.gru(self.dropout(self.embedding(items)))
        out: torch.Tensor = hidden
        return out

    def represent(self, items: torch.Tensor, positions: torch.Tensor | None) -> torch.Tensor:
        """Prefix representations: at every position, or only at ``positions`` (one per row)."""
        hidden = self.states(items)
        mask = items > 0
        if positions is None:
            last = hidden
            # Position t attends to positions j <= t of its own sequence.
            length = items.shape[1]
            causal = torch.ones(length, length, dtype=torch.bool, device=items.device).tril()
            allowed = causal[None, :, :] & mask[:, None, :]
        else:
            rows = torch.arange(items.shape[0], device=items.device)
            last = hidden[rows, positions][:, None, :]
            allowed = mask[:, None, :]
        if not self.attention:
            return last if positions is None else last[:, 0]
        energy = self.energy(
            torch.sigmoid(self.query(last)[:, :, None, :] + self.key(hidden)[:, None, :, :])
        ).squeeze(-1)
        pooled = (energy * allowed.to(energy.dtype)) @ hidden
        out: torch.Tensor = self.readout(self.dropout(torch.cat([last, pooled], dim=-1)))
        return out if positions is None else out[:, 0]

    def item_table(self) -> torch.Tensor:
        """Output embeddings of the real items (padding row dropped)."""
        return self.embedding.weight[1:]


def device() -> torch.device:
    """Where the network trains and scores: the CUDA GPU when torch sees one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _padded(sequences: Sequence[IntArray], where: torch.device) -> torch.Tensor:
    """Right-padded ``(len, longest)`` tensor of item indices shifted by one (0 is padding)."""
    longest = max((len(s) for s in sequences), default=0)
    out = np.zeros((len(sequences), max(longest, 1)), dtype=np.int64)
    for row, sequence in enumerate(sequences):
        out[row, : len(sequence)] = np.asarray(sequence, dtype=np.int64) + 1
    return torch.from_numpy(out).to(where)


def _batches(
    sequences: list[IntArray], batch_positions: int, rng: np.random.Generator
) -> list[list[IntArray]]:
    """Shuffled batches of sequences of similar length, about ``batch_positions`` each."""
    order = rng.permutation(len(sequences))
    # Sort by length within large shuffled blocks: little padding, still a random order.
    block = 64 * max(batch_positions // 8, 1)
    batches: list[list[IntArray]] = []
    for start in range(0, len(order), block):
        chunk = sorted(order[start : start + block], key=lambda u: len(sequences[u]))
        batch: list[IntArray] = []
        longest = 0
        for u in chunk:
            longest = max(longest, len(sequences[u]))
            if batch and longest * (len(batch) + 1) > batch_positions:
                batches.append(batch)
                batch, longest = [], len(sequences[u])
            batch.append(sequences[u])
        if batch:
            batches.append(batch)
    return [batches[b] for b in rng.permutation(len(batches))]


def _loss(
    network: _Network,
    items: torch.Tensor,
    sampler: torch.Tensor | None,
    negatives: int,
) -> torch.Tensor:
    """Next-item cross-entropy over every position of a padded batch."""
    inputs, targets = items[:, :-1], items[:, 1:]
    valid = targets > 0
    hidden = network.represent(inputs, None)[valid]
    target = targets[valid] - 1
    table = network.item_table()
    if sampler is None:
        return functional.cross_entropy(hidden @ table.T, target)
    log_q = torch.log(sampler)
    drawn = torch.multinomial(sampler, negatives, replacement=True)
    # One gather for targets and negatives: one scatter into the table's gradient, not two.
    rows = table[torch.cat([target, drawn])]
    positive = (hidden * rows[: len(target)]).sum(-1) - log_q[target]
    hits = _accidental_hits(target, drawn)
    return sampled_softmax(hidden, rows[len(target) :], -log_q[drawn], positive, hits).mean()


def _accidental_hits(target: torch.Tensor, drawn: torch.Tensor) -> torch.Tensor:
    """``(2, hits)`` row and column indices where a drawn negative is the row's own target."""
    order = torch.argsort(drawn)
    ordered = drawn[order]
    first = torch.searchsorted(ordered, target)
    counts = torch.searchsorted(ordered, target, right=True) - first
    rows = torch.repeat_interleave(torch.arange(len(target), device=target.device), counts)
    starts = torch.repeat_interleave(first - (torch.cumsum(counts, 0) - counts), counts)
    columns = order[starts + torch.arange(len(rows), device=target.device)]
    return torch.stack([rows, columns])


def sampled_softmax(
    hidden: torch.Tensor,
    rows: torch.Tensor,
    bias: torch.Tensor,
    positive: torch.Tensor,
    hits: torch.Tensor,
) -> torch.Tensor:
    """Per-row loss of :class:`_SampledSoftmax` (``hits`` from :func:`_accidental_hits`).

    ``bias`` is a constant (the sampling correction): no gradient flows to it.
    """
    out: torch.Tensor = _SampledSoftmax.apply(  # type: ignore[no-untyped-call]
        hidden, rows, bias, positive, hits
    )
    return out


class _SampledSoftmax(torch.autograd.Function):
    """Per-row cross-entropy of a positive logit against sampled negative logits.

    Row ``i``'s loss is ``logsumexp([positive_i, negatives_i]) - positive_i`` with
    ``negatives = hidden @ rows.T + bias`` and the accidental hits excluded. The negatives'
    matrix is the step's largest tensor: it is built once, turned into softmax weights in place
    and reused by the backward pass (``benchmarks/sequential_loss.py``).
    """

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        hidden: torch.Tensor,
        rows: torch.Tensor,
        bias: torch.Tensor,
        positive: torch.Tensor,
        hits: torch.Tensor,
    ) -> torch.Tensor:
        weights = torch.addmm(bias[None, :], hidden, rows.T)
        weights[hits[0], hits[1]] = float("-inf")
        peak = torch.maximum(weights.amax(dim=1), positive)
        weights.sub_(peak[:, None]).exp_()
        own = torch.exp(positive - peak)
        total = weights.sum(dim=1) + own
        ctx.save_for_backward(hidden, rows, weights, own / total, total)
        return torch.log(total) + peak - positive

    @staticmethod
    @once_differentiable
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, None, torch.Tensor, None]:
        hidden, rows, weights, share, total = ctx.saved_tensors  # type: ignore[attr-defined]
        # d loss / d negative logit = its softmax probability; / d positive = probability - 1.
        scaled = weights * (grad / total)[:, None]
        return scaled @ rows, scaled.T @ hidden, None, grad * (share - 1.0), None


class SequentialRecommender:
    """Scores the next item with a GRU read of the history (see the module docstring).

    Parameters
    ----------
    config
        Network size and training settings; see :class:`SequentialConfig`.
    name
        Name under which the harness and the ranker's features refer to this generator.
    """

    def __init__(self, config: SequentialConfig | None = None, name: str = "sequential") -> None:
        self.config = config or SequentialConfig()
        self.name = name
        self.state: SequentialState | None = None
        self._network: _Network | None = None

    def __getstate__(self) -> dict[str, object]:
        # The torch module is a cache rebuilt from ``state``; pickles carry numpy only.
        return {**self.__dict__, "_network": None}

    def fit(self, data: InteractionData) -> None:
        """Train the network from scratch on every sequence of ``data`` for ``epochs``."""
        self._fit(data, None, self.config.epochs)

    def refit(self, data: InteractionData) -> None:
        """Continue training the fitted network on ``data`` for ``refit_epochs``.

        The learning rate restarts from ``learning_rate`` and decays over those epochs. Falls
        back to :meth:`fit` when nothing is fitted yet, when ``data`` has another number of
        items, or when ``refit_epochs`` is 0.
        """
        state = self.state
        if state is None or len(state.seen) != data.n_items or not self.config.refit_epochs:
            self.fit(data)
            return
        self._fit(data, state.weights, self.config.refit_epochs)

    def _fit(self, data: InteractionData, start: dict[str, FloatArray] | None, epochs: int) -> None:
        cfg = self.config
        where = device()
        sequences = [np.asarray(s, dtype=np.int64)[-cfg.max_length - 1 :] for s in data.sequences]
        counts = np.bincount(
            np.concatenate(sequences) if sequences else np.empty(0, dtype=np.int64),
            minlength=data.n_items,
        ).astype(np.float64)
        trainable = [s for s in sequences if len(s) >= 2]
        cuda = [where.index or 0] if where.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):
            torch.manual_seed(cfg.seed)
            network = _Network(data.n_items, cfg)
            if start is not None:
                network.load_state_dict({k: torch.from_numpy(v) for k, v in start.items()})
            network.to(where)
            if trainable:
                self._train(network, trainable, counts, epochs)
        network.eval()
        # Weights leave the device as numpy arrays: artifacts load on a CPU-only server.
        weights = {k: v.detach().cpu().numpy().copy() for k, v in network.state_dict().items()}
        table = weights["embedding.weight"][1:]
        norms = np.linalg.norm(table, axis=1, keepdims=True)
        self.state = SequentialState(
            weights=weights,
            seen=counts > 0,
            unit_embeddings=(table / np.maximum(norms, 1e-12)).astype(np.float32),
        )
        self._network = network

    def _train(
        self,
        network: _Network,
        sequences: list[IntArray],
        counts: npt.NDArray[np.float64],
        n_epochs: int,
    ) -> None:
        cfg = self.config
        where = next(network.parameters()).device
        rng = np.random.default_rng(cfg.seed)
        sampler = None
        negatives = min(cfg.negatives, len(counts))
        if negatives > 0:
            weights = np.power(counts, cfg.sampling_alpha) * (counts > 0)
            sampler = torch.from_numpy(weights / weights.sum()).float().to(where)
        # The fused step updates the whole embedding table in one pass instead of one per
        # Adam operation (the table's gradient is dense: every step touches every row).
        optimizer = torch.optim.Adam(
            network.parameters(), lr=cfg.learning_rate, weight_decay=cfg.l2, fused=True
        )
        epochs = [_batches(sequences, cfg.batch_positions, rng) for _ in range(n_epochs)]
        total = max(sum(len(batches) for batches in epochs), 1)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: 1.0 - 0.9 * min(step / total, 1.0)
        )
        network.train()
        for batches in epochs:
            for batch in batches:
                optimizer.zero_grad()
                loss = _loss(network, _padded(batch, where), sampler, negatives)
                torch.autograd.backward(loss)
                optimizer.step()
                schedule.step()

    def _require_state(self) -> SequentialState:
        check_fitted(self.state, self.name)
        assert self.state is not None
        return self.state

    def _module(self) -> _Network:
        state = self._require_state()
        if self._network is None:
            network = _Network(len(state.seen), self.config)
            network.load_state_dict({k: torch.from_numpy(v) for k, v in state.weights.items()})
            network.to(device())
            network.eval()
            self._network = network
        return self._network

    def score(self, histories: Sequence[IntArray]) -> FloatArray:
        """Dot products of each history's representation with every item embedding.

        Items unseen in training get ``-inf``; an empty history (or one of only unknown items)
        gets 0 for every seen item.
        """
        state = self._require_state()
        network = self._module()
        n_items = len(state.seen)
        out = np.zeros((len(histories), n_items), dtype=np.float32)
        known = []
        for history in histories:
            items = np.asarray(history, dtype=np.int64)
            known.append(items[(items >= 0) & (items < n_items)][-self.config.max_length :])
        filled = [i for i, h in enumerate(known) if len(h)]
        size = self.config.score_batch
        with torch.no_grad():
            table = network.item_table()
            where = table.device
            for start in range(0, len(filled), size):
                rows = filled[start : start + size]
                batch = [known[i] for i in rows]
                positions = torch.as_tensor(
                    [len(h) - 1 for h in batch], dtype=torch.int64, device=where
                )
                represented = network.represent(_padded(batch, where), positions)
                out[rows] = (represented @ table.T).cpu().numpy()
        out[:, ~state.seen] = -np.inf
        return out

    def similar_items(self, item: int, n: int) -> tuple[IntArray, FloatArray]:
        """Items whose embeddings have the highest cosine with ``item``'s (seen items only)."""
        state = self._require_state()
        similarities = state.unit_embeddings @ state.unit_embeddings[item]
        similarities = np.where(state.seen, similarities, -np.inf).astype(np.float32)
        return top_similar(similarities, item, n)
