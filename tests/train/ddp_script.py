"""Data-parallel run for test_distributed.py: python ddp_script.py OUT.pt (under torchrun or not)."""
import sys

import torch
from torch import nn

import topnet
from topnet.callbacks import CSVLogger


def main():
    out = sys.argv[1]
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(96, 5, generator=g)
    y = (x[:, 0] - x[:, 1] > 0).long() + (x[:, 2] > 0.3).long()
    model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3))
    seen = []  # training rows this process ran forward (its shard of each batch)
    model.register_forward_pre_hook(lambda module, args: seen.append(len(args[0])) if module.training else None)
    history = topnet.fit(model, (x[:64], y[:64]), validation_data=(x[64:], y[64:]), epochs=3, batch_size=16,
                         optimizer="sgd", lr=0.2, metrics=["accuracy"], seed=7, device="cpu",
                         callbacks=[CSVLogger(out + ".csv")], verbose=0)
    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    torch.save({"weights": model.state_dict(), "history": history.history, "rows": sum(seen)}, f"{out}.rank{rank}")


if __name__ == "__main__":
    main()
