//! [`ListStore`]: what a provider plugin keeps about its config list.
//!
//! - `configure` reads the list from the effective config (plus legacy keys),
//!   normalizes it and rebuilds the credentials; it never writes the file, so
//!   a hand-written file is shown and used normalized but left as written
//!   until the next management write.
//! - `handle_management` serves the list route: GET from the view; PUT,
//!   PATCH and DELETE compute the new normalized list and write it through
//!   the host, which persists it atomically and calls `configure` on every
//!   plugin (this one included) before returning.
//!
//! Locking: the view sits behind an `RwLock` that `configure` takes. A
//! separate `writer` mutex serializes this plugin's read-modify-write cycles
//! so that two concurrent PATCHes cannot both start from the same list and
//! lose one change. `configure` never takes `writer`, so holding it across
//! the host call cannot deadlock; the view lock is never held across it.

use std::sync::{Mutex, RwLock};

use abi_stable::std_types::{ROption, RString};
use serde_json::Value;

use super::list::{self, ListSection, Outcome};
use cliproxy_sdk::Host;
use cliproxy_sdk::{ConfigEdit, Credential, HttpRequest, HttpResponse, PluginError};

struct View<E> {
    entries: Vec<E>,
    credentials: Vec<Credential>,
    /// Legacy keys present in the last config, removed on the next write.
    legacy_present: Vec<&'static str>,
}

pub struct ListStore<S: ListSection> {
    host: Host,
    view: RwLock<View<S::Entry>>,
    writer: Mutex<()>,
}

impl<S: ListSection> ListStore<S> {
    pub fn new(host: Host) -> Self {
        ListStore {
            host,
            view: RwLock::new(View {
                entries: Vec::new(),
                credentials: Vec::new(),
                legacy_present: Vec::new(),
            }),
            writer: Mutex::new(()),
        }
    }

    pub fn host(&self) -> &Host {
        &self.host
    }

    /// Rebuilds the view from the whole effective config (JSON text).
    pub fn configure(&self, config_json: &str) -> Result<(), PluginError> {
        let config: Value = serde_json::from_str(config_json)
            .map_err(|e| PluginError::internal(format!("config is not JSON: {e}")))?;
        let key = S::RULES.key;
        let (mut entries, skipped) = super::parse_list_counting::<S::Entry>(config.get(key));
        if skipped > 0 {
            // Only counts: entries may hold secrets.
            self.host.warn(&format!(
                "{key}: ignored {skipped} malformed entr{}",
                if skipped == 1 { "y" } else { "ies" }
            ));
        }
        entries.extend(S::legacy_entries(&config));
        let entries = S::normalize(entries);
        let credentials = S::credentials(&entries);
        let legacy_present = S::RULES
            .legacy_keys
            .iter()
            .copied()
            .filter(|k| config.get(*k).is_some_and(|v| !v.is_null()))
            .collect();
        *self.view.write().unwrap_or_else(|p| p.into_inner()) = View {
            entries,
            credentials,
            legacy_present,
        };
        Ok(())
    }

    /// The normalized list from the last configuration.
    pub fn entries(&self) -> Vec<S::Entry> {
        self.read(|v| v.entries.clone())
    }

    /// The credentials built from the last configuration.
    pub fn credentials(&self) -> Vec<Credential> {
        self.read(|v| v.credentials.clone())
    }

    /// One credential by its id.
    pub fn credential(&self, id: &str) -> Option<Credential> {
        self.read(|v| v.credentials.iter().find(|c| c.id.as_str() == id).cloned())
    }

    fn read<T>(&self, f: impl FnOnce(&View<S::Entry>) -> T) -> T {
        f(&self.view.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Serves the list route (`GET`, `PUT`, `PATCH`, `DELETE`).
    pub fn handle_management(&self, req: &HttpRequest) -> HttpResponse {
        if req.method.as_str() == "GET" {
            return self.read(|v| list::render::<S>(&v.entries));
        }
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let (current, legacy) = self.read(|v| (v.entries.clone(), v.legacy_present.clone()));
        match list::mutate::<S>(&current, req) {
            Outcome::Reply(resp) => resp,
            Outcome::Save(entries) => self.save(&entries, &legacy),
        }
    }

    fn save(&self, entries: &[S::Entry], legacy: &[&str]) -> HttpResponse {
        let value = match serde_json::to_value(entries) {
            Ok(v) => v,
            Err(e) => return HttpResponse::error(500, &format!("failed to save config: {e}")),
        };
        let mut edits = vec![ConfigEdit {
            path: vec![RString::from(S::RULES.key)].into(),
            value_json: ROption::RSome(RString::from(value.to_string())),
        }];
        edits.extend(legacy.iter().map(|k| ConfigEdit {
            path: vec![RString::from(*k)].into(),
            value_json: ROption::RNone,
        }));
        match self.host.update_config(edits) {
            Ok(()) => HttpResponse::ok(),
            Err(e) => {
                let status = if e.status >= 400 { e.status } else { 500 };
                HttpResponse::error(status, e.message.as_str())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use abi_stable::sabi_trait::TD_Opaque;
    use abi_stable::std_types::{RErr, ROk, RResult, RStr, RString, RVec};
    use serde_json::json;

    use super::*;
    use crate::list::{DeleteRules, ListRules, Selector};
    use crate::normalize::{self, Dedup, KeyRules, ModelRule};
    use crate::{credentials_from_keys, KeyEntry};
    use cliproxy_sdk::Header;
    use cliproxy_sdk::{HostObj, HostObj_TO, LogLevel};

    #[derive(Default)]
    struct Seen {
        edits: Vec<(Vec<String>, Option<Value>)>,
        logs: Vec<String>,
        fail: bool,
    }

    struct FakeHost(Arc<Mutex<Seen>>);

    impl HostObj for FakeHost {
        fn config_json(&self) -> RString {
            "{}".into()
        }

        fn update_config(&self, edits: RVec<ConfigEdit>) -> RResult<(), PluginError> {
            let mut seen = self.0.lock().expect("lock");
            if seen.fail {
                return RErr(PluginError::with_status(
                    500,
                    "save_failed",
                    "failed to save config: disk full",
                ));
            }
            for e in edits.iter() {
                let path = e.path.iter().map(|s| s.to_string()).collect();
                let value = e
                    .value_json
                    .as_ref()
                    .into_option()
                    .map(|v| serde_json::from_str(v.as_str()).expect("edit JSON"));
                seen.edits.push((path, value));
            }
            ROk(())
        }

        fn log(&self, _level: LogLevel, message: RStr<'_>) {
            self.0.lock().expect("lock").logs.push(message.to_string());
        }

        fn now_unix_ms(&self) -> i64 {
            0
        }

        fn config_dir(&self) -> RString {
            "/".into()
        }
    }

    struct Keys;

    impl ListSection for Keys {
        type Entry = KeyEntry;
        const RULES: ListRules = ListRules {
            key: "test-keys",
            selector: Selector::ApiKey,
            delete: DeleteRules {
                trim: true,
                missing_is_404: true,
            },
            shown_always: &[],
            legacy_keys: &["old-keys"],
        };

        fn normalize(entries: Vec<KeyEntry>) -> Vec<KeyEntry> {
            normalize::key_list(
                entries,
                &KeyRules {
                    require_api_key: true,
                    require_base_url: false,
                    dedup: Dedup::ByApiKey,
                    models: ModelRule::TrimDropEmpty,
                },
            )
        }

        fn credentials(entries: &[KeyEntry]) -> Vec<Credential> {
            credentials_from_keys("test", "https://default.test", entries)
        }

        fn legacy_entries(config: &Value) -> Vec<KeyEntry> {
            config
                .get("old-keys")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(KeyEntry::with_key)
                        .collect()
                })
                .unwrap_or_default()
        }
    }

    fn store() -> (ListStore<Keys>, Arc<Mutex<Seen>>) {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let host = Host::new(HostObj_TO::from_value(FakeHost(seen.clone()), TD_Opaque));
        (ListStore::new(host), seen)
    }

    fn req(method: &str, query: &str, body: &str) -> HttpRequest {
        HttpRequest {
            method: method.into(),
            path: "/test-keys".into(),
            query: query.into(),
            headers: Vec::<Header>::new().into(),
            params: Vec::<Header>::new().into(),
            body: body.as_bytes().to_vec().into(),
        }
    }

    #[test]
    fn load_normalizes_without_writing() {
        let (s, seen) = store();
        let config = json!({
            "test-keys": [{"api-key": " a ", "prefix": "/p/"}, {"api-key": "secret-b"}, "junk", {"api-key": ""}],
            "old-keys": ["c", "a"]
        });
        s.configure(&config.to_string()).expect("configure");
        let keys: Vec<_> = s.entries().into_iter().map(|e| e.api_key).collect();
        assert_eq!(keys, vec!["a", "secret-b", "c"]);
        assert_eq!(s.credentials().len(), 3);
        let id = s.credentials()[2].id.to_string();
        assert_eq!(
            s.credential(&id).map(|c| c.api_key.to_string()).as_deref(),
            Some("c")
        );
        let seen = seen.lock().expect("lock");
        assert!(seen.edits.is_empty(), "loading never writes");
        assert_eq!(seen.logs.len(), 1, "{:?}", seen.logs);
        assert!(seen.logs[0].contains("1 malformed"));
        assert!(!seen.logs[0].contains("secret"), "no secrets in logs");
        assert!(s.configure("not json").is_err());
    }

    #[test]
    fn writes_go_through_the_host_and_drop_legacy_keys() {
        let (s, seen) = store();
        s.configure(&json!({"old-keys": ["x"]}).to_string())
            .expect("configure");
        let r = s.handle_management(&req("PUT", "", r#"[{"api-key":" n ","auth-index":"zz"}]"#));
        assert_eq!(r.status, 200);
        let edits = std::mem::take(&mut seen.lock().expect("lock").edits);
        assert_eq!(
            edits,
            vec![
                (
                    vec!["test-keys".to_string()],
                    Some(json!([{"api-key": "n"}]))
                ),
                (vec!["old-keys".to_string()], None),
            ]
        );
        // Answers without a write leave the host alone.
        s.configure(&json!({"test-keys": [{"api-key": "n"}]}).to_string())
            .expect("configure");
        let r = s.handle_management(&req("DELETE", "api-key=zzz", ""));
        assert_eq!(r.status, 404);
        let r = s.handle_management(&req("GET", "", ""));
        let body: Value = serde_json::from_slice(&r.body).expect("json");
        assert_eq!(body["test-keys"][0]["api-key"], "n");
        assert!(seen.lock().expect("lock").edits.is_empty());
    }

    #[test]
    fn save_failure_is_a_500_with_the_reason() {
        let (s, seen) = store();
        seen.lock().expect("lock").fail = true;
        let r = s.handle_management(&req("PUT", "", "[]"));
        assert_eq!(r.status, 500);
        let body: Value = serde_json::from_slice(&r.body).expect("json");
        assert_eq!(body["error"], "failed to save config: disk full");
    }
}
