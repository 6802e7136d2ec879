//! Work that may take a millisecond or more (a plugin call, a synced write,
//! PBKDF2) must not hold a tokio worker: every session that worker carries
//! would stall with it. [`off_worker`] runs such work so the runtime moves the
//! worker's other tasks to another thread first.

use tokio::runtime::{Handle, RuntimeFlavor};

/// Runs `f`, which may block, without stalling the async runtime.
///
/// On a worker of the multi-threaded runtime this is `block_in_place`: the
/// worker's queue and I/O duties go to another thread while `f` runs here, so
/// the caller's own ordering (a session's stanzas in sequence) is kept without
/// a hop to another thread. Nested calls cost nothing more. Off the runtime
/// (a blocking-pool thread, a plain thread, a test) `f` simply runs; a
/// current-thread runtime cannot hand work over and runs it too.
pub fn off_worker<R>(f: impl FnOnce() -> R) -> R {
    let multi_thread = Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread);
    if multi_thread { tokio::task::block_in_place(f) } else { f() }
}

/// [`off_worker`] when `blocking`, else inline: for work that is slow only in
/// some cases (PLAIN's PBKDF2, not SCRAM's few HMACs).
pub fn off_worker_if<R>(blocking: bool, f: impl FnOnce() -> R) -> R {
    if blocking { off_worker(f) } else { f() }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use super::*;

    /// With one worker, a task that blocks inside `off_worker` must not keep
    /// another task on the same runtime from running meanwhile.
    #[test]
    fn other_tasks_run_while_one_blocks() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        rt.block_on(async {
            let other_ran = Arc::new(AtomicBool::new(false));
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            let flag = other_ran.clone();
            let blocker = tokio::spawn(async move {
                // Blocks until the other task has run: without the hand-over
                // this would wait for ever (bounded by the timeout below).
                off_worker(|| rx.recv_timeout(Duration::from_secs(20)).is_ok())
            });
            tokio::task::yield_now().await;
            let other = tokio::spawn(async move {
                flag.store(true, Ordering::SeqCst);
                let _ = tx.send(());
            });
            assert!(blocker.await.unwrap(), "the blocked task was never released");
            other.await.unwrap();
            assert!(other_ran.load(Ordering::SeqCst));
        });
    }

    #[test]
    fn runs_inline_outside_a_runtime_and_on_a_current_thread_one() {
        assert_eq!(off_worker(|| 7), 7);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        assert_eq!(rt.block_on(async { off_worker_if(true, || 8) }), 8);
    }
}
