//! What watches a training run: the [`Observer`]s the driver
//! ([`super::run`]) reports each epoch to, and the [`History`] of costs it
//! returns. The driver itself prints and writes nothing; the epoch lines
//! with their progress bar and the `--log` CSV
//! ([`super::report::LogFile`]) are observers.

use std::io::{self, Write};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::report::epoch_line;
use super::{ParamLayout, TrainError};

/// One evaluated epoch: its cost and gradient at the params before its step.
#[derive(Clone, Copy, Debug)]
pub struct Epoch<'a> {
    /// The epoch's number, from 0.
    pub epoch: usize,
    /// The epochs of the whole run.
    pub epochs: usize,
    /// The cost before the step.
    pub cost: f64,
    /// The gradient before the step.
    pub grad: &'a [f64],
    /// Whether the cost and every gradient entry are finite (when not, the
    /// run stops here without a step).
    pub finite: bool,
}

/// Watches a training run. Every method has a default that does nothing.
pub trait Observer {
    /// The first epoch at or after `epoch` this observer must see evaluated
    /// one at a time; the epochs before it may run inside the objective's
    /// compiled loop ([`super::Objective::advance_sgd`]), unseen. `None`:
    /// every epoch must be evaluated one at a time. The default needs no
    /// epoch (`Some(epochs)`).
    fn next_needed(&self, _epoch: usize, epochs: usize) -> Option<usize> {
        Some(epochs)
    }

    /// An epoch was evaluated, before its step is taken.
    fn evaluated(&mut self, _e: &Epoch<'_>) -> Result<(), TrainError> {
        Ok(())
    }

    /// The epoch's step was taken; `after` are the new params.
    fn stepped(&mut self, _e: &Epoch<'_>, _after: &[f64]) -> Result<(), TrainError> {
        Ok(())
    }

    /// `epochs` epochs ran inside the objective's compiled loop, unseen.
    fn skipped(&mut self, _epochs: usize) {}
}

/// The seed notebook's epoch lines (`Epoch {e}, cost {c}, m grad {g}`)
/// every `every` epochs, at the last epoch and at a non-finite one, with an
/// optional progress bar on standard error kept out of their way.
pub(crate) struct EpochLines<'w> {
    out: &'w mut dyn Write,
    layout: &'w ParamLayout,
    every: usize,
    bar: Option<ProgressBar>,
}

impl<'w> EpochLines<'w> {
    /// Lines for the params of `layout` written to `out` every `every`
    /// epochs (at least 1), with a progress bar of `bar_epochs` epochs when
    /// given.
    pub(crate) fn new(
        out: &'w mut dyn Write,
        layout: &'w ParamLayout,
        every: usize,
        bar_epochs: Option<usize>,
    ) -> Self {
        EpochLines {
            out,
            layout,
            every: every.max(1),
            bar: bar_epochs.map(progress_bar),
        }
    }

    /// Clears the progress bar.
    pub(crate) fn finish(self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    /// Writes one line, keeping the progress bar (if any) out of the way.
    fn emit(&mut self, line: &str) -> io::Result<()> {
        let out = &mut *self.out;
        match &self.bar {
            Some(bar) => bar.suspend(|| {
                writeln!(out, "{line}")?;
                out.flush()
            }),
            None => writeln!(out, "{line}"),
        }
    }
}

impl Observer for EpochLines<'_> {
    fn next_needed(&self, epoch: usize, epochs: usize) -> Option<usize> {
        let last = epochs.saturating_sub(1);
        Some(if epoch.is_multiple_of(self.every) {
            epoch
        } else {
            (epoch / self.every + 1)
                .saturating_mul(self.every)
                .min(last)
        })
    }

    fn evaluated(&mut self, e: &Epoch<'_>) -> Result<(), TrainError> {
        let last = e.epochs.saturating_sub(1);
        if !e.finite || e.epoch.is_multiple_of(self.every) || e.epoch == last {
            let line = epoch_line(e.epoch, e.cost, self.layout, e.grad);
            self.emit(&line).map_err(TrainError::Output)?;
        }
        Ok(())
    }

    fn stepped(&mut self, _e: &Epoch<'_>, _after: &[f64]) -> Result<(), TrainError> {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
        Ok(())
    }

    fn skipped(&mut self, epochs: usize) {
        if let Some(bar) = &self.bar {
            bar.inc(epochs as u64);
        }
    }
}

fn progress_bar(epochs: usize) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(epochs as u64), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{wide_bar} {pos}/{len} epochs, {elapsed} elapsed, eta {eta}")
    {
        bar.set_style(style);
    }
    bar
}

/// The costs of a run, for a loss curve: (epoch, cost) pairs, at most about
/// `2*4096` whatever the number of epochs (when full, every other point is
/// dropped and the stride doubles), in epoch order. The driver records the
/// cost of every epoch it evaluates before its step; epochs run inside the
/// objective's compiled loop ([`super::Objective::advance_sgd`]) have no cost
/// to record, so a run whose observers all let epochs go unseen has gaps
/// (an observer whose [`Observer::next_needed`] is `None` makes every epoch
/// seen).
#[derive(Clone, Debug)]
pub struct History {
    stride: usize,
    points: Vec<(f64, f64)>,
    /// Points to make room for at the first push.
    room: usize,
}

/// Histories are equal when they kept the same points.
impl PartialEq for History {
    fn eq(&self, other: &Self) -> bool {
        self.points == other.points
    }
}

impl Default for History {
    fn default() -> Self {
        Self::new()
    }
}

impl History {
    const CAP: usize = 4096;

    /// An empty history.
    pub(crate) fn new() -> Self {
        Self::for_epochs(0)
    }

    /// An empty history for a run of `epochs` epochs: room for them is
    /// made at the first push (none when the objective's compiled loop runs
    /// them all), so the per-epoch path does not reallocate.
    pub(crate) fn for_epochs(epochs: usize) -> Self {
        History {
            stride: 1,
            points: Vec::new(),
            room: epochs.min(2 * Self::CAP),
        }
    }

    /// Records the cost of `epoch` (kept when `epoch` is a multiple of the
    /// current stride).
    pub(crate) fn push(&mut self, epoch: usize, cost: f64) {
        if !epoch.is_multiple_of(self.stride) {
            return;
        }
        if self.points.capacity() == 0 {
            self.points.reserve_exact(self.room);
        }
        self.points.push((epoch as f64, cost));
        if self.points.len() >= 2 * Self::CAP {
            let mut i = 0;
            self.points.retain(|_| {
                i += 1;
                i % 2 == 1
            });
            self.stride *= 2;
        }
    }

    /// The kept (epoch, cost) pairs, in epoch order.
    pub fn points(&self) -> &[(f64, f64)] {
        &self.points
    }
}

/// Asks the driver to evaluate every epoch one at a time (none in the
/// objective's compiled loop), so that the [`History`] has no gaps.
pub(crate) struct EveryEpoch;

impl Observer for EveryEpoch {
    fn next_needed(&self, _epoch: usize, _epochs: usize) -> Option<usize> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_stays_bounded_and_keeps_the_start() {
        let mut h = History::new();
        for e in 0..100_000 {
            h.push(e, e as f64);
        }
        assert!(h.points.len() < 2 * History::CAP);
        assert!(h.points.len() >= History::CAP / 2);
        assert_eq!(h.points[0], (0.0, 0.0));
        // Evenly spaced at the current stride.
        let s = h.stride as f64;
        assert!(h.points.windows(2).all(|w| w[1].0 - w[0].0 == s));
    }
}
