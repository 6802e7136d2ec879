//! A plugin call's deadline in CPU time. The epoch ticker measures wall
//! time, and a loaded machine (a build beside the server, a burst on every
//! core) can keep a call's thread off the CPU past a 200 ms deadline while
//! the plugin itself ran for a millisecond. So when the epoch deadline comes
//! the call is let go on for as long as its thread has used less CPU than
//! the budget: a plugin that spins still stops at its limit, one that was
//! merely waiting does not fail. A wall-clock cap, ten times the budget,
//! still bounds a call that waits on something (a synced write) for ever.

use std::time::{Duration, Instant};

use wasmtime::UpdateDeadline;

use super::engine::deadline_ticks;

/// How far past its CPU budget, in wall time, a call may run.
const WALL_FACTOR: u32 = 10;

#[derive(Debug, Clone, Copy)]
pub(crate) struct CallClock {
    started: Instant,
    cpu_at_start: Duration,
    budget: Duration,
}

impl Default for CallClock {
    fn default() -> Self {
        CallClock { started: Instant::now(), cpu_at_start: Duration::ZERO, budget: Duration::ZERO }
    }
}

impl CallClock {
    /// Starts a call of `budget_ms` on this thread.
    pub fn start(budget_ms: u64) -> CallClock {
        CallClock { started: Instant::now(), cpu_at_start: thread_cpu(), budget: Duration::from_millis(budget_ms) }
    }

    /// Runs `work` without counting it against the call: the kernel's own
    /// work done for the plugin (compiling and initialising a plugin it asked
    /// to reload) is not the plugin's to pay for.
    pub fn excluding<R>(&mut self, work: impl FnOnce() -> R) -> R {
        let (wall, cpu) = (Instant::now(), thread_cpu());
        let out = work();
        self.started += wall.elapsed();
        self.cpu_at_start += thread_cpu().saturating_sub(cpu);
        out
    }

    /// What to do when the epoch deadline is reached: stop, or run on for
    /// the CPU time left.
    pub fn at_deadline(&self) -> UpdateDeadline {
        self.decide(thread_cpu().saturating_sub(self.cpu_at_start), self.started.elapsed())
    }

    fn decide(&self, cpu_used: Duration, wall: Duration) -> UpdateDeadline {
        if cpu_used >= self.budget || wall >= self.budget * WALL_FACTOR {
            return UpdateDeadline::Interrupt;
        }
        let left = (self.budget - cpu_used).as_millis();
        UpdateDeadline::Continue(deadline_ticks(u64::try_from(left).unwrap_or(u64::MAX)))
    }
}

/// CPU time this thread has used (user and system).
pub(crate) fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec to write to; the clock id is a
    // constant every Linux has.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        // No thread clock: count nothing, so the wall cap decides.
        return Duration::ZERO;
    }
    Duration::new(u64::try_from(ts.tv_sec).unwrap_or(0), u32::try_from(ts.tv_nsec).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock(budget_ms: u64) -> CallClock {
        CallClock { started: Instant::now(), cpu_at_start: Duration::ZERO, budget: Duration::from_millis(budget_ms) }
    }

    #[test]
    fn a_call_that_waited_runs_on_for_its_cpu_left() {
        let c = clock(200);
        match c.decide(Duration::from_millis(20), Duration::from_millis(250)) {
            UpdateDeadline::Continue(ticks) => assert_eq!(ticks, deadline_ticks(180)),
            _ => panic!("a call that used 20 ms of 200 goes on"),
        }
    }

    #[test]
    fn a_call_that_spent_its_budget_or_ten_times_it_in_wall_time_stops() {
        let c = clock(200);
        assert!(matches!(c.decide(Duration::from_millis(200), Duration::from_millis(210)), UpdateDeadline::Interrupt));
        assert!(matches!(c.decide(Duration::from_millis(5), Duration::from_millis(2000)), UpdateDeadline::Interrupt));
    }

    #[test]
    fn work_excluded_does_not_count() {
        let mut c = CallClock::start(50);
        let mut x = 0u64;
        c.excluding(|| {
            let until = Instant::now() + Duration::from_millis(120);
            while Instant::now() < until {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        });
        assert!(
            matches!(c.at_deadline(), UpdateDeadline::Continue(_)),
            "120 ms of excluded work left the 50 ms budget whole"
        );
    }

    #[test]
    fn the_thread_clock_moves_with_work() {
        let before = thread_cpu();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(thread_cpu() > before);
    }
}
