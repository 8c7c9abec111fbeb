"""The curve warnings a person should see while training: divergence, overfitting, no
progress. Pure logic over logged numbers."""

import math

from ft_tui.core.training.watchdog import LossWatchdog


def test_nan_and_inf_losses_are_reported_with_a_fix():
    dog = LossWatchdog()
    assert dog.on_train_loss(1, 2.0) is None
    alert = dog.on_train_loss(2, math.nan)
    assert alert.code == "nan_loss" and alert.step == 2
    assert "NaN" in alert.message and "learning rate" in alert.message
    assert LossWatchdog().on_train_loss(1, math.inf).code == "nan_loss"


def test_overfitting_needs_eval_rising_twice_while_train_falls():
    dog = LossWatchdog(overfit_evals=2, window=2)
    train = iter([3.0, 2.8, 2.6, 2.4, 2.2, 2.0, 1.8, 1.6])
    step = 0
    alerts = []
    for eval_loss in (2.5, 2.4, 2.45, 2.6):    # falls once, then rises twice
        for _ in range(2):
            step += 1
            dog.on_train_loss(step, next(train))
        alerts.append(dog.on_eval_loss(step, eval_loss))
    assert alerts[:3] == [None, None, None]     # one rise is noise, not a trend
    assert alerts[3].code == "overfitting" and "2.400 -> 2.600" in alerts[3].message


def test_rising_eval_with_rising_train_loss_is_not_overfitting():
    dog = LossWatchdog(overfit_evals=2, window=2)
    step = 0
    for eval_loss, train_loss in ((2.0, 2.0), (2.1, 2.1), (2.2, 2.2)):
        for _ in range(2):
            step += 1
            dog.on_train_loss(step, train_loss)
        alert = dog.on_eval_loss(step, eval_loss)
    assert alert is None


def test_overfitting_is_reported_once_per_episode():
    dog = LossWatchdog(overfit_evals=2, window=1)
    codes = []
    for step, (train_loss, eval_loss) in enumerate(
            [(3, 2.0), (2.5, 2.1), (2, 2.2), (1.5, 2.3), (1.0, 2.0), (0.9, 2.1), (0.8, 2.2)], 1):
        dog.on_train_loss(step, train_loss)
        alert = dog.on_eval_loss(step, eval_loss)
        codes.append(alert.code if alert else None)
    # rising at evals 3 and 4 is one episode; the dip at 5 ends it; 6-7 start a new one
    assert codes == [None, None, "overfitting", None, None, None, "overfitting"]


def test_flat_loss_warns_no_progress_once():
    dog = LossWatchdog(window=5)
    alerts = [dog.on_train_loss(step, 2.0 + 0.01 * (step % 2)) for step in range(1, 40)]
    found = [a for a in alerts if a is not None]
    assert len(found) == 1 and found[0].code == "no_progress" and found[0].step == 15
    assert "higher learning rate" in found[0].message


def test_decreasing_loss_never_warns():
    dog = LossWatchdog(window=5)
    assert all(dog.on_train_loss(step, 3.0 / step) is None for step in range(1, 60))
