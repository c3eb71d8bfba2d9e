//! Giving memory back to the system after a burst.
//!
//! glibc keeps what a burst of allocations freed (thousands of handshakes,
//! a configuration serialized for every AP) for the next burst, scattered
//! over its heaps: at 5,000 APs ~16 MiB stayed resident after an adoption,
//! a fifth of the AC. `malloc_trim` hands the free pages back; it walks
//! every heap, so it runs once a burst is over, never on a quiet
//! appliance's schedule.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Events of a burst (a connection, a pushed configuration) before the
/// memory they leave behind is worth a trim.
const WORTH_A_TRIM: usize = 64;

/// Counts work that leaves freed memory behind.
#[derive(Clone, Default)]
pub struct Churn(Arc<AtomicUsize>);

impl Churn {
    /// One more event of a burst.
    pub fn note(&self) {
        self.note_many(1);
    }

    /// `n` more events (a list of `n` rows).
    pub fn note_many(&self, n: usize) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// Every `period`: if a burst happened since the last look, the freed
    /// memory goes back to the system. Runs until dropped.
    pub async fn give_back_after_bursts(self, period: Duration) {
        loop {
            tokio::time::sleep(period).await;
            let events = self.0.swap(0, Ordering::Relaxed);
            if events < WORTH_A_TRIM {
                continue;
            }
            let start = Instant::now();
            let returned = tokio::task::spawn_blocking(give_back).await.unwrap_or(false);
            tracing::debug!(events, returned, ms = start.elapsed().as_millis() as u64, "gave freed memory back");
        }
    }
}

/// Hands the allocator's free pages back to the system; true if any went.
pub fn give_back() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim has no preconditions; it only releases free memory.
        unsafe { libc::malloc_trim(0) != 0 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_burst_is_looked_at_once_a_period_and_the_count_starts_over() {
        let churn = Churn::default();
        let task = tokio::spawn(churn.clone().give_back_after_bursts(Duration::from_millis(20)));
        churn.note_many(WORTH_A_TRIM);
        churn.note();
        assert_eq!(churn.0.load(Ordering::Relaxed), WORTH_A_TRIM + 1);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(churn.0.load(Ordering::Relaxed), 0, "looked at after a period");
        task.abort();
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn holes_a_burst_left_in_the_heap_go_back() {
        // 64 KiB blocks stay on the heap (under glibc's mmap threshold);
        // freeing every other one leaves holes that free() keeps.
        let mut blocks: Vec<Option<Vec<u8>>> = (0..512).map(|_| Some(vec![1u8; 64 * 1024])).collect();
        for block in blocks.iter_mut().step_by(2) {
            *block = None;
        }
        assert!(give_back(), "16 MiB of holes, and nothing went back");
        assert!(blocks.iter().flatten().all(|b| b.iter().all(|&x| x == 1)), "what is live is untouched");
    }
}
