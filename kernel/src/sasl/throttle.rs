//! Slows down password guessing from one address: after a few failures each
//! further failure is answered later, the delay doubling up to a ceiling.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

const FIRST_DELAY: Duration = Duration::from_millis(250);
/// A quiet address is forgiven after this long.
const EXPIRY: Duration = Duration::from_secs(600);
/// Bounds memory when failures come from very many addresses.
const CAPACITY: usize = 65_536;

pub struct FailureThrottle {
    failures_before_delay: u32,
    max_delay: Duration,
    capacity: usize,
    entries: Mutex<HashMap<IpAddr, Entry>>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last: Instant,
}

impl FailureThrottle {
    pub fn new(failures_before_delay: u32, max_delay: Duration) -> Self {
        FailureThrottle { failures_before_delay, max_delay, capacity: CAPACITY, entries: Mutex::new(HashMap::new()) }
    }

    /// How long to wait before answering a failure from `ip`: zero while fewer
    /// than `failures_before_delay` failures are on record, then 250 ms,
    /// doubling with each further failure, at most `max_delay`.
    pub fn delay_for(&self, ip: IpAddr) -> Duration {
        self.delay_at(ip, Instant::now())
    }

    pub fn record_failure(&self, ip: IpAddr) {
        self.record_failure_at(ip, Instant::now());
    }

    pub fn record_success(&self, ip: IpAddr) {
        self.lock().remove(&bucket(ip));
    }

    fn delay_at(&self, ip: IpAddr, now: Instant) -> Duration {
        let failures = match self.lock().get(&bucket(ip)) {
            Some(e) if !expired(e, now) => e.failures,
            _ => 0,
        };
        let Some(over) = failures.checked_sub(self.failures_before_delay) else { return Duration::ZERO };
        // 2^20 × 250 ms is days; capping the exponent keeps the multiplication finite.
        FIRST_DELAY.saturating_mul(1 << over.min(20)).min(self.max_delay)
    }

    fn record_failure_at(&self, ip: IpAddr, now: Instant) {
        let mut entries = self.lock();
        let key = bucket(ip);
        if !entries.contains_key(&key) && entries.len() >= self.capacity {
            entries.retain(|_, e| !expired(e, now));
            if entries.len() >= self.capacity
                && let Some(oldest) = entries.iter().min_by_key(|(_, e)| e.last).map(|(k, _)| *k)
            {
                entries.remove(&oldest);
            }
        }
        let e = entries.entry(key).or_insert(Entry { failures: 0, last: now });
        if expired(e, now) {
            e.failures = 0;
        }
        e.failures = e.failures.saturating_add(1);
        e.last = now;
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<IpAddr, Entry>> {
        // Every update leaves the map consistent, so a panic mid-way through
        // another holder's critical section cannot corrupt it.
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn expired(e: &Entry, now: Instant) -> bool {
    now.saturating_duration_since(e.last) >= EXPIRY
}

/// One attacker usually holds a whole IPv6 /64, so that is counted as one
/// address; IPv4-mapped IPv6 counts as the IPv4 address it carries.
fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn delay_curve() {
        let t = FailureThrottle::new(3, ms(1500));
        let now = Instant::now();
        let mut seen = Vec::new();
        for _ in 0..8 {
            seen.push(t.delay_at(A, now));
            t.record_failure_at(A, now);
        }
        assert_eq!(seen, [ms(0), ms(0), ms(0), ms(250), ms(500), ms(1000), ms(1500), ms(1500)]);
        assert_eq!(t.delay_at(B, now), ms(0), "other addresses are not affected");
    }

    #[test]
    fn huge_counts_stay_at_the_ceiling() {
        let t = FailureThrottle::new(0, Duration::from_secs(5));
        let now = Instant::now();
        t.lock().insert(A, Entry { failures: u32::MAX, last: now });
        assert_eq!(t.delay_at(A, now), Duration::from_secs(5));
        t.record_failure_at(A, now);
        assert_eq!(t.lock()[&A].failures, u32::MAX);
    }

    #[test]
    fn success_and_time_forgive() {
        let t = FailureThrottle::new(1, Duration::from_secs(5));
        let now = Instant::now();
        t.record_failure_at(A, now);
        t.record_failure_at(A, now);
        assert_eq!(t.delay_at(A, now), ms(500));
        t.record_success(A);
        assert_eq!(t.delay_at(A, now), ms(0));

        t.record_failure_at(A, now);
        t.record_failure_at(A, now);
        let later = now + EXPIRY;
        assert_eq!(t.delay_at(A, later), ms(0));
        // An expired count starts again from one rather than carrying on.
        t.record_failure_at(A, later);
        assert_eq!(t.delay_at(A, later), ms(250));
        t.record_failure_at(A, later);
        assert_eq!(t.delay_at(A, later), ms(500));
    }

    #[test]
    fn ipv6_counts_per_slash_64() {
        let t = FailureThrottle::new(1, Duration::from_secs(5));
        let now = Instant::now();
        let one: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let same_net: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other_net: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        t.record_failure_at(one, now);
        assert_eq!(t.delay_at(same_net, now), ms(250));
        assert_eq!(t.delay_at(other_net, now), ms(0));
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped());
        t.record_failure_at(mapped, now);
        assert_eq!(t.delay_at(A, now), ms(250));
        assert_eq!(bucket(IpAddr::V6(Ipv6Addr::LOCALHOST)), IpAddr::V6(Ipv6Addr::UNSPECIFIED));
    }

    #[test]
    fn size_is_bounded() {
        let t = FailureThrottle { capacity: 3, ..FailureThrottle::new(0, Duration::from_secs(5)) };
        let start = Instant::now();
        for i in 0..3u8 {
            t.record_failure_at(IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)), start + ms(u64::from(i)));
        }
        // Full of live entries: the least recently failing one makes room.
        t.record_failure_at(B, start + ms(10));
        let keys = |t: &FailureThrottle| {
            let mut k: Vec<IpAddr> = t.lock().keys().copied().collect();
            k.sort();
            k
        };
        assert_eq!(keys(&t), ["10.0.0.1", "10.0.0.2", "192.0.2.2"].map(|s| s.parse::<IpAddr>().unwrap()));
        // Expired entries are dropped first, all of them.
        t.record_failure_at(A, start + EXPIRY + ms(5));
        assert_eq!(keys(&t), ["192.0.2.1", "192.0.2.2"].map(|s| s.parse::<IpAddr>().unwrap()));
    }
}
