//! The management route table built from the enabled plugins' manifests.

use std::collections::HashMap;

/// Where a management request goes: which plugin, and the `:name` values.
pub struct RouteMatch {
    pub plugin: usize,
    pub params: Vec<(String, String)>,
}

#[derive(Default)]
pub struct RouteTable {
    router: matchit::Router<usize>,
    /// Per route slot: (method, plugin index) in priority order.
    slots: Vec<Vec<(String, usize)>>,
    by_pattern: HashMap<String, usize>,
}

impl RouteTable {
    /// Adds a route; `path` uses `:name` segments (converted to matchit's
    /// `{name}`). Returns false if the pattern cannot be routed.
    pub fn add(&mut self, method: &str, path: &str, plugin: usize) -> bool {
        let pattern = to_matchit(path);
        let slot = match self.by_pattern.get(&pattern) {
            Some(&s) => s,
            None => {
                let s = self.slots.len();
                if self.router.insert(pattern.clone(), s).is_err() {
                    return false;
                }
                self.slots.push(Vec::new());
                self.by_pattern.insert(pattern, s);
                s
            }
        };
        self.slots[slot].push((method.to_ascii_uppercase(), plugin));
        true
    }

    pub fn find(&self, method: &str, path: &str) -> Option<RouteMatch> {
        let m = self.router.at(path).ok()?;
        let plugin =
            self.slots.get(*m.value)?.iter().find_map(|(mth, p)| {
                (mth == "*" || mth.eq_ignore_ascii_case(method)).then_some(*p)
            })?;
        let params = m
            .params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Some(RouteMatch { plugin, params })
    }
}

fn to_matchit(path: &str) -> String {
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    path.split('/')
        .map(|seg| match seg.strip_prefix(':') {
            Some(name) => format!("{{{name}}}"),
            None => seg.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_params_and_priority() {
        let mut t = RouteTable::default();
        assert!(t.add("GET", "/logs", 0));
        assert!(t.add("DELETE", "/logs", 0));
        assert!(t.add("GET", "/request-log-by-id/:id", 1));
        assert!(
            t.add("GET", "/logs", 2),
            "a second plugin on the same route is kept behind the first"
        );
        assert_eq!(t.find("GET", "/logs").map(|m| m.plugin), Some(0));
        assert!(t.find("PUT", "/logs").is_none());
        let m = t.find("GET", "/request-log-by-id/abc").expect("matches");
        assert_eq!(m.plugin, 1);
        assert_eq!(m.params, vec![("id".to_string(), "abc".to_string())]);
        assert!(t.find("GET", "/nothing").is_none());
    }
}
