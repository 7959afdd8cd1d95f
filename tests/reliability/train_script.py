"""A training run in a child process, for the kill, SIGTERM and crash-during-write tests.

    python train_script.py RUN_DIR [--kill MOMENT] [--slow SECONDS] [--width N]

MOMENT is where the process SIGKILLs itself: ``batch:N`` (after optimizer step N),
``boundary:E`` (at epoch E's start, just after the backup of that epoch is written),
``validation:E`` (in the middle of epoch E's validation) or ``write:BYTES`` (in the first
backup write after the first one, once BYTES bytes of it are on disk). ``--slow`` sleeps after
each batch (so a parent can send SIGTERM mid-epoch). The finished run's weights, optimizer
state, history and callback states go to RUN_DIR/result.pt. Data, model and seeds are fixed:
two runs without a kill give bit-identical results.
"""
import argparse
import os
import signal
import sys
import time

import torch
from torch import nn

import topnet
from topnet.callbacks import BackupAndRestore, Callback, CSVLogger, EarlyStopping, ReduceLROnPlateau


def die():
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


class Probe(nn.Module):
    """Identity; SIGKILLs the process at its second call once armed (an armed eval pass: validation)."""

    def __init__(self):
        super().__init__()
        self.armed_calls = None

    def forward(self, x):
        if self.armed_calls is not None and not self.training:
            self.armed_calls += 1
            if self.armed_calls == 2:
                die()
        return x


class KillAt(Callback):
    def __init__(self, moment, probe):
        kind, value = moment.split(":")
        self.kind, self.value, self.probe = kind, int(value), probe

    def on_epoch_begin(self, state):
        if self.kind == "boundary" and state.epoch == self.value:
            die()

    def on_batch_end(self, state):
        if self.kind == "batch" and state.step == self.value:
            die()
        if self.kind == "validation" and state.epoch == self.value and state.batch == state.steps_per_epoch - 1:
            self.probe.armed_calls = 0  # the next eval-mode forward passes are this epoch's validation


class Slow(Callback):
    def __init__(self, seconds):
        self.seconds = seconds

    def on_batch_end(self, state):
        if state.step == 1:
            print("training", flush=True)
        time.sleep(self.seconds)


def kill_inside_writes(after_bytes):
    """SIGKILL once ``after_bytes`` bytes of the second backup are written (the first is left whole)."""
    import topnet.io

    real_fdopen, written = topnet.io.os.fdopen, {"files": 0}

    class Chunked:
        def __init__(self, handle):
            self.handle = handle

        def write(self, data):
            view = memoryview(data)
            for start in range(0, len(view), 4096):  # a large write reaches the disk piece by piece
                if start >= after_bytes:
                    self.handle.flush()
                    die()
                self.handle.write(view[start:start + 4096])
            return len(view)

        def __getattr__(self, name):
            return getattr(self.handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.handle.__exit__(*exc)

    def fdopen(fd, mode="r", *args, **kwargs):
        handle = real_fdopen(fd, mode, *args, **kwargs)
        if not os.path.basename(os.readlink(f"/proc/self/fd/{fd}")).startswith(".backup.pt."):
            return handle  # another file (the CSV log)
        written["files"] += 1
        return Chunked(handle) if written["files"] >= 2 else handle

    topnet.io.os.fdopen = fdopen


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir")
    parser.add_argument("--kill", default=None)
    parser.add_argument("--slow", type=float, default=0.0)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=6)
    args = parser.parse_args()
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(200, 6, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long() + (x[:, 2] > 0.5).long()
    probe = Probe()
    model = nn.Sequential(nn.Linear(6, args.width), nn.ReLU(), nn.Dropout(0.3), nn.Linear(args.width, 3), probe)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    backup = BackupAndRestore(os.path.join(args.run_dir, "backup"))
    early = EarlyStopping(monitor="val_loss", patience=50)
    plateau = ReduceLROnPlateau(monitor="val_loss", patience=1, factor=0.5)
    callbacks = [backup, early, plateau, CSVLogger(os.path.join(args.run_dir, "history.csv"), append=True)]
    if args.kill is not None and args.kill.startswith("write:"):
        kill_inside_writes(int(args.kill.split(":")[1]))
    elif args.kill is not None:
        callbacks.append(KillAt(args.kill, probe))
    if args.slow:
        callbacks.append(Slow(args.slow))

    def augment(xb, generator):  # draws from the fit's generator, which the backup carries too
        return xb + 0.05 * torch.randn(xb.shape, generator=generator)

    history = topnet.fit(model, (x[:160], y[:160]), validation_data=(x[160:], y[160:]), epochs=args.epochs,
                         batch_size=16, optimizer=optimizer, seed=3, augment=augment, callbacks=callbacks, verbose=0)
    torch.save({"weights": model.state_dict(), "optimizer": optimizer.state_dict(),
                "history": history.history, "early_stopping": early.state_dict(), "plateau": plateau.state_dict(),
                "rng": torch.get_rng_state()}, os.path.join(args.run_dir, "result.pt"))


if __name__ == "__main__":
    main()
