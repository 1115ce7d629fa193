"""The engine's device path and its DDP arithmetic, as lesson 10 teaches them.

* ``fit(..., TrainConfig(on_device=True))`` is the hand-written device loop of lesson 10,
  bit for bit (float32 and bfloat16 autocast);
* a pointwise epoch on the device reads nothing back to the host per step: the number of
  host reads does not grow with the number of steps;
* under DDP each process trains on its slice of every global batch with its loss scaled
  by ``len(slice) * world / len(batch)``: the average of the processes' steps is the
  one-process step, and the all-reduced loss is the one-process loss -- also when a
  last batch smaller than the world leaves a process an empty slice (whose mean loss is
  NaN and must not reach the epoch's total).

The DDP tests run each rank's epoch in this process, with the all-reduce recorded
instead of sent (the 1- vs 2-process runs under torchrun are in ``test_cli.py``).
"""
import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ncf_helpers import GMF, NegativeSampler, NeuMF, TrainConfig, fit, training
from ncf_helpers.losses import make_loss

CPU = torch.device("cpu")


def implicit_data(n_users=30, n_items=50, per_user=6, seed=0):
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(n_users), per_user)
    items = np.concatenate([rng.choice(n_items, per_user, replace=False)
                            for _ in range(n_users)])
    return users, items, np.ones(len(users), dtype=np.float32)


def device_loop(model, train, config):
    """Lesson 10's loop (one process): data, negatives and loss sum on the device."""
    device = torch.device(config.device)
    users, items, targets = (torch.as_tensor(a).to(device) for a in train)
    users, items, targets = users.long(), items.long(), targets.float()
    sampler = NegativeSampler(train[0], train[1], model.n_items, n_users=model.n_users)
    order_generator = torch.Generator(device).manual_seed(config.seed)
    negative_generator = torch.Generator(device).manual_seed(config.seed + 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, fused=True)
    losses = []
    for _ in range(config.epochs):
        model.train()
        owners = users.repeat(int(config.negatives))
        negatives = sampler.sample(owners, negative_generator)
        u, i = torch.cat([users, owners]), torch.cat([items, negatives])
        y = torch.cat([targets, torch.zeros(len(owners), device=device)])
        order = torch.randperm(len(y), generator=order_generator, device=device)
        u, i, y = u[order], i[order], y[order]
        total = torch.zeros((), dtype=torch.float64, device=device)
        for start in range(0, len(y), config.batch_size):
            bu, bi, by = (t[start:start + config.batch_size] for t in (u, i, y))
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.amp):
                loss = F.binary_cross_entropy_with_logits(model(bu, bi).float(), by)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.detach().double() * len(by)
        losses.append(float(total) / len(y))
    return np.array(losses)


@pytest.mark.parametrize("amp", [False, True])
def test_fit_on_device_is_the_hand_written_device_loop(amp):
    train = implicit_data()
    config = TrainConfig(epochs=2, batch_size=37, lr=0.01, loss="bce", negatives=3,
                         on_device=True, amp=amp, patience=None, seed=7, device="cpu")
    torch.manual_seed(0)
    by_hand = NeuMF(30, 50, gmf_dim=4, mlp_dim=8, head="logits")
    by_fit = copy.deepcopy(by_hand)
    hand = device_loop(by_hand, train, config)
    history = fit(by_fit, train, config)
    np.testing.assert_array_equal(hand, history["train_loss"].to_numpy())
    users, items = np.repeat(np.arange(30), 50), np.tile(np.arange(50), 30)
    np.testing.assert_array_equal(by_hand.predict(users, items), by_fit.predict(users, items))
    assert hand[-1] < hand[0]


HOST_READS = ("__bool__", "__float__", "__int__", "item", "tolist", "numpy")


@pytest.mark.parametrize("loss", ["bce", "bpr"])
def test_an_epoch_on_the_device_reads_nothing_back_per_step(monkeypatch, loss):
    """Count the reads of tensor values into Python (each a host round-trip on a GPU)."""
    train = implicit_data()
    reads = []
    for name in HOST_READS:
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _original=original, **kwargs):
            reads.append(1)
            return _original(self, *args, **kwargs)
        monkeypatch.setattr(torch.Tensor, name, counted)

    def count(batch_size):
        reads.clear()
        torch.manual_seed(0)
        model = GMF(30, 50, embedding_dim=4, head="logits")
        history = fit(model, train, TrainConfig(
            epochs=2, batch_size=batch_size, loss=loss, negatives=2, on_device=True,
            patience=None, device="cpu"))
        return len(reads), len(history)

    few, many = count(batch_size=180), count(batch_size=6)  # 1-3 vs 30-90 steps an epoch
    assert few == many


# ------------------------------------------------------------------ DDP arithmetic
def flat(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def one_epoch(model, data, config, rank, world):
    """``_train_epoch`` of process ``rank`` of ``world``: returns the parameter change."""
    loss_fn = make_loss(config.loss, model)
    epochs = training._Epochs(*data, model, loss_fn, config, CPU)
    opt = training.make_optimizer(config, model.parameters(), CPU)
    before = flat(model)
    loss, samples = training._train_epoch(model, loss_fn, opt, epochs, config, CPU, rank,
                                          world)
    return flat(model) - before, loss, samples


def ratings(n):
    rng = np.random.default_rng(n)
    return (rng.integers(0, 6, n), rng.integers(0, 9, n),
            rng.integers(1, 6, n).astype(np.float32))


@pytest.mark.parametrize("on_device", [False, True])
@pytest.mark.parametrize("n, world", [(5, 4), (7, 2), (1, 2), (3, 4), (2, 3)])
def test_the_processes_steps_average_to_the_one_process_step(monkeypatch, n, world,
                                                             on_device):
    """One global batch of ``n`` rows over ``world`` processes; plain SGD, whose step is
    linear in the gradient, so averaging the steps is averaging the gradients as DDP
    does. (1, 2), (3, 4) and (2, 3) leave a process an empty slice."""
    data = ratings(n)
    config = TrainConfig(epochs=1, batch_size=n, lr=0.5, optimizer="sgd", loss="mse",
                         negatives=0.0, on_device=on_device, patience=None, device="cpu")
    torch.manual_seed(0)
    start = GMF(6, 9, embedding_dim=3)
    whole, whole_loss, whole_samples = one_epoch(copy.deepcopy(start), data, config, 0, 1)

    sent = []  # what each process hands to the all-reduce: (its loss total, its rows)
    monkeypatch.setattr(training.dist, "all_reduce", lambda t: sent.append(t.clone()))
    steps = [one_epoch(copy.deepcopy(start), data, config, rank, world)[0]
             for rank in range(world)]
    total, rows = torch.stack(sent).sum(0)

    assert torch.isfinite(torch.stack(sent)).all()  # an empty slice adds 0, not NaN
    assert int(rows) == whole_samples == n
    assert float(total) / int(rows) == pytest.approx(whole_loss, rel=1e-6)  # float32
    torch.testing.assert_close(torch.stack(steps).mean(0), whole, rtol=1e-5, atol=1e-7)
    assert whole.abs().max() > 1e-3  # the step moved the weights


@pytest.mark.parametrize("loss", ["bpr", "softmax"])
@pytest.mark.parametrize("on_device", [False, True])
def test_pairwise_negatives_are_drawn_for_the_whole_batch(monkeypatch, loss, on_device):
    """Each positive keeps the negatives one process would draw for it, so the processes'
    steps average to the one-process step for the pairwise losses too."""
    users, items, ones = implicit_data(n_users=6, n_items=20, per_user=2)
    config = TrainConfig(epochs=1, batch_size=12, lr=0.5, optimizer="sgd", loss=loss,
                         negatives=3, on_device=on_device, patience=None, device="cpu")
    torch.manual_seed(0)
    start = GMF(6, 20, embedding_dim=3, head="logits")
    whole = one_epoch(copy.deepcopy(start), (users, items, ones), config, 0, 1)[0]
    monkeypatch.setattr(training.dist, "all_reduce", lambda t: None)
    steps = [one_epoch(copy.deepcopy(start), (users, items, ones), config, rank, 3)[0]
             for rank in range(3)]
    torch.testing.assert_close(torch.stack(steps).mean(0), whole, rtol=1e-5, atol=1e-7)
    assert whole.abs().max() > 1e-3


@pytest.mark.parametrize("loss, world", [("bce", 4), ("bpr", 2)])
def test_a_process_with_an_empty_slice_reports_a_finite_loss(monkeypatch, loss, world):
    """One positive: BCE's 3 rows (with 2 negatives) over 4 processes, or BPR's 1
    positive over 2; the last process trains on nothing."""
    users, items, ones = implicit_data(n_users=3, per_user=1)
    data = (users[:1], items[:1], ones[:1])
    config = TrainConfig(epochs=1, batch_size=4, loss=loss, negatives=2, on_device=True,
                         patience=None, device="cpu")
    monkeypatch.setattr(training.dist, "all_reduce", lambda t: None)
    torch.manual_seed(0)
    change, mean_loss, samples = one_epoch(GMF(3, 50, embedding_dim=4, head="logits"),
                                           data, config, rank=world - 1, world=world)
    assert mean_loss == 0.0 and samples == 0  # nothing of its own to report
    assert torch.isfinite(change).all()

