//! Choosing among credentials (proxy spec §4): `round-robin` (default) keeps
//! one counter per `provider:model`; `fill-first` always takes the first
//! available credential by id. Providers serving a model take turns as the
//! starting provider, one counter per model.

use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    RoundRobin,
    FillFirst,
}

impl Strategy {
    pub fn from_config(s: &str) -> Strategy {
        match s.trim().to_ascii_lowercase().as_str() {
            "fill-first" | "fillfirst" | "ff" => Strategy::FillFirst,
            _ => Strategy::RoundRobin,
        }
    }
}

#[derive(Default)]
pub struct Scheduler {
    credential_turns: Mutex<HashMap<String, u64>>,
    provider_turns: Mutex<HashMap<String, u64>>,
}

impl Scheduler {
    /// Forgets the counters of models no longer routable (called when the
    /// registry is rebuilt), so the maps stay as small as the registry.
    pub fn retain_models(&self, known: &std::collections::HashSet<&str>) {
        for map in [&self.credential_turns, &self.provider_turns] {
            let mut m = map.lock().unwrap_or_else(|p| p.into_inner());
            m.retain(|k, _| known.iter().any(|model| k.ends_with(model)));
        }
    }
}

fn next(map: &Mutex<HashMap<String, u64>>, key: &str) -> u64 {
    let mut m = map.lock().unwrap_or_else(|p| p.into_inner());
    match m.get_mut(key) {
        Some(n) => {
            let v = *n;
            *n = n.wrapping_add(1);
            v
        }
        None => {
            m.insert(key.to_string(), 1);
            0
        }
    }
}

impl Scheduler {
    /// Index of the provider to start with among `n` for `model`.
    pub fn provider_start(&self, model: &str, n: usize) -> usize {
        if n <= 1 {
            return 0;
        }
        (next(&self.provider_turns, model) % n as u64) as usize
    }

    /// Index of the credential to use among `n` available ones (sorted by id).
    pub fn pick(&self, strategy: Strategy, provider: &str, model: &str, n: usize) -> usize {
        if n <= 1 || strategy == Strategy::FillFirst {
            return 0;
        }
        let key = format!("{provider}:{model}");
        (next(&self.credential_turns, &key) % n as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turns() {
        let s = Scheduler::default();
        let picks: Vec<usize> = (0..4)
            .map(|_| s.pick(Strategy::RoundRobin, "p", "m", 3))
            .collect();
        assert_eq!(picks, vec![0, 1, 2, 0]);
        assert_eq!(s.pick(Strategy::FillFirst, "p", "m", 3), 0);
        assert_eq!(s.pick(Strategy::RoundRobin, "p", "other", 3), 0);
        assert_eq!(Strategy::from_config("fill-first"), Strategy::FillFirst);
        assert_eq!(Strategy::from_config(""), Strategy::RoundRobin);
    }
}
