//! Failed-key bookkeeping for remote management clients.
//!
//! Per IP: a failure count, a ban end and the time of the last counted
//! failure. Five counted failures ban the IP (the fifth request itself still
//! gets its 401); a success clears the record; idle records are purged by a
//! periodic job. Local clients never reach this. Time is passed in by the
//! caller, so the rules are tested without waiting.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Counted failures that trigger a ban.
pub const MAX_FAILURES: u32 = 5;
/// Records without a running ban and idle this long are dropped.
pub const IDLE_LIMIT: Duration = Duration::from_secs(2 * 60 * 60);
/// How often the purge job runs.
pub const PURGE_EVERY: Duration = Duration::from_secs(60 * 60);
/// Records kept at most; past it the least recently active record without
/// a running ban goes (an IPv6 spray cannot grow the table without bound).
pub const MAX_RECORDS: usize = 65_536;

/// The key an address is counted under: IPv4 as is, IPv6 by its /64
/// (one host holds a whole /64, so counting single addresses would let it
/// dodge the ban by changing address).
fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

#[derive(Debug, Clone, Copy)]
struct Record {
    count: u32,
    banned_until: Option<Instant>,
    last_activity: Instant,
}

/// The per-IP records, shared by every management request.
#[derive(Debug, Default)]
pub struct BanList {
    records: Mutex<HashMap<IpAddr, Record>>,
}

impl BanList {
    fn records(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Record>> {
        // The map stays consistent even if a holder panicked (plain inserts).
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The time left on a running ban. An expired ban is cleared here and
    /// the count starts again from zero.
    pub fn banned_for(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let mut records = self.records();
        let record = records.get_mut(&bucket(ip))?;
        let until = record.banned_until?;
        if now < until {
            return Some(until - now);
        }
        record.banned_until = None;
        record.count = 0;
        None
    }

    /// Counts a failure; the one that reaches the limit starts a ban of `ban`.
    pub fn record_failure(&self, ip: IpAddr, now: Instant, ban: Duration) {
        let ip = bucket(ip);
        let mut records = self.records();
        if records.len() >= MAX_RECORDS && !records.contains_key(&ip) {
            let victim = records
                .iter()
                .min_by_key(|(_, r)| (r.banned_until.is_some_and(|u| now < u), r.last_activity))
                .map(|(k, _)| *k);
            if let Some(k) = victim {
                records.remove(&k);
            }
        }
        let record = records.entry(ip).or_insert(Record {
            count: 0,
            banned_until: None,
            last_activity: now,
        });
        record.count += 1;
        record.last_activity = now;
        if record.count >= MAX_FAILURES {
            record.banned_until = Some(now.checked_add(ban).unwrap_or(now));
            record.count = 0;
        }
    }

    /// A successful key clears the IP's count and ban.
    pub fn clear(&self, ip: IpAddr) {
        self.records().remove(&bucket(ip));
    }

    /// Drops records whose ban (if any) is over and that were idle too long.
    pub fn purge(&self, now: Instant) {
        self.records().retain(|_, r| {
            let banned = r.banned_until.is_some_and(|until| now < until);
            banned || now.saturating_duration_since(r.last_activity) <= IDLE_LIMIT
        });
    }

    pub fn len(&self) -> usize {
        self.records().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Go's `time.Duration` text for whole seconds (`29m59s`, `1m0s`, `45s`,
/// `0s`, `1h0m0s`); sub-second rest is dropped so a fresh 30-minute ban reads
/// `29m59s`, as in CLIProxyAPI.
pub fn go_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BAN: Duration = Duration::from_secs(1800);

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn fifth_failure_bans_and_ban_expires() {
        let bans = BanList::default();
        let t0 = Instant::now();
        let a = ip("10.0.0.1");
        for i in 0..4 {
            bans.record_failure(a, t0, BAN);
            assert!(bans.banned_for(a, t0).is_none(), "after {} failures", i + 1);
        }
        bans.record_failure(a, t0, BAN);
        let left = bans
            .banned_for(a, t0 + Duration::from_millis(10))
            .expect("banned");
        assert_eq!(go_duration(left), "29m59s");
        assert!(bans.banned_for(ip("10.0.0.2"), t0).is_none(), "per IP");
        // Expired: cleared, and the count starts from zero again.
        assert!(bans.banned_for(a, t0 + BAN).is_none());
        for _ in 0..4 {
            bans.record_failure(a, t0 + BAN, BAN);
        }
        assert!(bans.banned_for(a, t0 + BAN).is_none());
    }

    #[test]
    fn success_clears() {
        let bans = BanList::default();
        let t0 = Instant::now();
        let a = ip("10.0.0.1");
        for _ in 0..4 {
            bans.record_failure(a, t0, BAN);
        }
        bans.clear(a);
        bans.record_failure(a, t0, BAN);
        assert!(bans.banned_for(a, t0).is_none());
    }

    #[test]
    fn purge_keeps_bans_and_recent_records() {
        let bans = BanList::default();
        let t0 = Instant::now();
        bans.record_failure(ip("10.0.0.1"), t0, BAN);
        for _ in 0..5 {
            bans.record_failure(ip("10.0.0.2"), t0, Duration::from_secs(3 * 3600));
        }
        bans.record_failure(ip("10.0.0.3"), t0 + Duration::from_secs(3600), BAN);
        bans.purge(t0 + IDLE_LIMIT + Duration::from_secs(1));
        assert_eq!(bans.len(), 2, "idle record dropped, ban and recent kept");
        bans.purge(t0 + Duration::from_secs(4 * 3600));
        assert!(bans.is_empty());
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(Duration::from_secs(0)), "0s");
        assert_eq!(go_duration(Duration::from_millis(45_900)), "45s");
        assert_eq!(go_duration(Duration::from_secs(60)), "1m0s");
        assert_eq!(go_duration(Duration::from_secs(1799)), "29m59s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(go_duration(Duration::from_secs(3661)), "1h1m1s");
    }

    #[test]
    fn ipv6_counts_per_64_and_the_table_is_bounded() {
        let list = BanList::default();
        let now = Instant::now();
        let ban = Duration::from_secs(60);
        for i in 0..5u16 {
            list.record_failure(ip(&format!("2001:db8:1:2::{i:x}")), now, ban);
        }
        assert!(
            list.banned_for(ip("2001:db8:1:2::ffff"), now).is_some(),
            "five addresses of one /64 are one client"
        );
        assert!(list.banned_for(ip("2001:db8:1:3::1"), now).is_none());
        for i in 0..(MAX_RECORDS as u32 + 100) {
            let a = std::net::Ipv4Addr::from(0x0a00_0000 + i);
            list.record_failure(IpAddr::V4(a), now, ban);
        }
        assert!(list.len() <= MAX_RECORDS);
        assert!(
            list.banned_for(ip("2001:db8:1:2::1"), now).is_some(),
            "a running ban outlives the spray"
        );
    }
}
