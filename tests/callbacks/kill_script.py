"""A training run for the kill/resume test: python kill_script.py BACKUP_DIR OUT.pt [KILL_AT_STEP]."""
import os
import signal
import sys

import torch
from torch import nn

import topnet
from topnet.callbacks import BackupAndRestore, Callback, CSVLogger, EarlyStopping, ReduceLROnPlateau


class KillAt(Callback):
    def __init__(self, step):
        self.step = step

    def on_batch_end(self, state):
        if state.step == self.step:
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)


class Report(Callback):
    def on_fit_begin(self, state):
        print(f"starting at epoch {state.epoch}", flush=True)


def main():
    backup_dir, out = sys.argv[1], sys.argv[2]
    kill_at = int(sys.argv[3]) if len(sys.argv) > 3 else None
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(200, 6, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long() + (x[:, 2] > 0.5).long()
    model = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 3))
    callbacks = [BackupAndRestore(backup_dir), Report(),
                 EarlyStopping(monitor="val_loss", patience=50),
                 ReduceLROnPlateau(monitor="val_loss", patience=1, factor=0.5),
                 CSVLogger(os.path.join(backup_dir, "..", "history.csv"), append=True)]
    if kill_at is not None:
        callbacks.append(KillAt(kill_at))
    history = topnet.fit(model, (x[:160], y[:160]), validation_data=(x[160:], y[160:]), epochs=6,
                         batch_size=16, optimizer="adam", seed=3, callbacks=callbacks, verbose=0)
    torch.save({"weights": model.state_dict(), "history": history.history}, out)


if __name__ == "__main__":
    main()
