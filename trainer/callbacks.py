"""The Keras callbacks of a training run: the epoch log line, the mean per-level accuracy early
stopping watches, and a backup that says what it restored."""

from __future__ import annotations

import logging
import time

import numpy as np
import tensorflow as tf

from prodcat import features as F

_LOG = logging.getLogger("prodcat.trainer")
# Transient status (the step inside an epoch) for a live display; muted unless one enables it.
STATUS_LOGGER = "prodcat.status"
_STATUS = logging.getLogger(STATUS_LOGGER)
_STATUS.setLevel(logging.WARNING)


def val_accuracy_key(level: int) -> str:
    """The epoch-log key Keras gives level `level`'s accuracy on the eval split."""
    return f"val_{F.level_output(level)}_accuracy"


class EpochLog(tf.keras.callbacks.Callback):
    """One short line per epoch (losses, per-level accuracy on the eval split), and the step inside
    the epoch as a status for a live display (`STATUS_LOGGER`), so a long training shows it moves."""

    def __init__(self, n_levels: int, epochs: int | None = None) -> None:
        super().__init__()
        self.n_levels, self.epochs = n_levels, epochs
        self._epoch, self._shown = 0, 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if not _STATUS.isEnabledFor(logging.INFO) or time.monotonic() - self._shown < 0.5:
            return
        self._shown = time.monotonic()
        steps = (self.params or {}).get("steps")
        _STATUS.info("epoch %d%s, step %d%s, loss %.4f", self._epoch + 1, self._of(), batch + 1,
                     f"/{steps}" if steps else "", (logs or {}).get("loss", float("nan")))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        accuracies = " ".join(
            f"L{k}={logs.get(val_accuracy_key(k), float('nan')):.3f}" for k in range(1, self.n_levels + 1)
        )
        _LOG.info("epoch %d%s: loss %.4f val_loss %.4f val accuracy %s", epoch + 1, self._of(),
                  logs.get("loss", float("nan")), logs.get("val_loss", float("nan")), accuracies)

    def _of(self) -> str:
        return f" of {self.epochs}" if self.epochs else ""


class MeanLevelAccuracy(tf.keras.callbacks.Callback):
    """Adds the mean of the per-level eval accuracies to the epoch's logs, for early stopping,
    TensorBoard and the training summary to read."""

    KEY = "val_mean_level_accuracy"
    # `model.early_stopping_monitor` -> (epoch-log key, better when) for EarlyStopping
    STOPPING = {"accuracy": (KEY, "max"), "loss": ("val_loss", "min")}

    def __init__(self, n_levels: int) -> None:
        super().__init__()
        self.n_levels = n_levels

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is None:
            return
        values = [logs[key] for k in range(1, self.n_levels + 1)
                  if (key := val_accuracy_key(k)) in logs]
        if values:
            logs[self.KEY] = float(np.mean(values))


class ResumingBackup(tf.keras.callbacks.BackupAndRestore):
    """BackupAndRestore that says what it restored, so a resumed training is visible in the log.

    `epochs_restored`: epochs completed before this `fit` (0 for a fresh start); with a step
    cadence the epoch that was interrupted is counted as not done.
    """

    def __init__(self, backup_dir: str, save_freq: str | int = "epoch") -> None:
        super().__init__(backup_dir, save_freq=save_freq)
        self.epochs_restored = 0

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)  # restores the backup, if there is one
        state = getattr(self, "_training_state", None)
        epoch = int(tf.keras.backend.get_value(state._ckpt_saved_epoch)) if state is not None else -1
        step = int(tf.keras.backend.get_value(state._ckpt_saved_batch)) if state is not None else -1
        if epoch < 0:
            _LOG.info("no training state backed up in %s: training from epoch 1", self.backup_dir)
        elif self.save_freq == "epoch":
            self.epochs_restored = epoch + 1
            _LOG.info("restored the training state backed up after epoch %d from %s: resuming at epoch %d",
                      epoch + 1, self.backup_dir, epoch + 2)
        elif step + 1 == (getattr(self, "params", None) or {}).get("steps"):  # backed up after the epoch's last step
            self.epochs_restored = epoch + 1
            _LOG.info("restored the training state backed up after epoch %d from %s: resuming at epoch %d",
                      epoch + 1, self.backup_dir, epoch + 2)
        else:
            self.epochs_restored = epoch
            _LOG.info("restored the training state backed up in epoch %d after step %d from %s: resuming "
                      "epoch %d at step %d", epoch + 1, step + 1, self.backup_dir, epoch + 1, step + 2)


def training_callbacks(n_levels: int, monitor: str, patience: int, backup_dir: str | None, checkpoint_every: str | int,
                       log_dir: str | None, epochs: int | None = None) -> tuple[list[tf.keras.callbacks.Callback], ResumingBackup | None]:
    """The callbacks in the order they must run, and the backup (None without `backup_dir`)."""
    callbacks: list[tf.keras.callbacks.Callback] = [MeanLevelAccuracy(n_levels)]  # before the stopper
    key, mode = MeanLevelAccuracy.STOPPING[monitor]
    callbacks.append(tf.keras.callbacks.EarlyStopping(monitor=key, mode=mode, patience=patience,
                                                      restore_best_weights=True))
    backup = None
    if backup_dir:  # before the loggers: an epoch in the log is an epoch backed up
        backup = ResumingBackup(backup_dir, save_freq=checkpoint_every)
        callbacks.append(backup)
    if log_dir:
        callbacks.append(tf.keras.callbacks.TensorBoard(log_dir=log_dir, update_freq="epoch"))
    callbacks.append(EpochLog(n_levels, epochs))
    return callbacks, backup
