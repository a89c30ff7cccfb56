//! Cool-downs shared by the replicas: a credential cooling down after a
//! 429 (or another upstream error) on one replica is skipped by all.
//!
//! Each change is sent once (in the background, after the local table is
//! updated): `SET cliproxy:cooldown:<h> <event> PX <wait>` so late joiners
//! can read the live ones, and `PUBLISH cliproxy:events <event>` so the
//! others apply it at once (`<h>` = SHA-256 of credential id and model).
//! Selection reads only the local table: no Redis call per request, and a
//! success costs one only when it ends a cool-down.
//!
//! While Redis is down, cool-downs stay local to the replica that saw the
//! error.

use std::sync::Arc;
use std::time::Duration;

use super::events::{self, now_ms, Event};
use super::{digest, Redis, PREFIX};
use crate::app::App;
use crate::proxy::cooldown::CooldownSink;

/// At most this many live cool-downs are read when catching up.
const CATCH_UP_MAX: usize = 10_000;

fn key(cred: &str, model: &str) -> String {
    format!("{PREFIX}cooldown:{}", digest(&format!("{cred}\n{model}")))
}

pub struct Mirror {
    redis: Arc<Redis>,
}

impl Mirror {
    pub fn new(redis: Arc<Redis>) -> Self {
        Mirror { redis }
    }

    fn send(&self, event: Event, key: String, wait: Option<Duration>) {
        let Ok(payload) = serde_json::to_string(&event) else {
            return;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let redis = self.redis.clone();
        rt.spawn(async move {
            let mut pipe = redis::pipe();
            match wait {
                Some(w) => {
                    let ms = u64::try_from(w.as_millis()).unwrap_or(u64::MAX).max(1);
                    pipe.cmd("SET").arg(&key).arg(&payload).arg("PX").arg(ms)
                }
                None => pipe.cmd("DEL").arg(&key),
            }
            .ignore();
            pipe.cmd("PUBLISH")
                .arg(events::channel())
                .arg(&payload)
                .ignore();
            let _: Option<()> = redis
                .call(|mut c| async move { pipe.query_async(&mut c).await })
                .await;
        });
    }
}

impl CooldownSink for Mirror {
    fn cooled(&self, cred: &str, model: &str, wait: Duration, quota: bool) {
        let until_ms = now_ms().saturating_add(u64::try_from(wait.as_millis()).unwrap_or(0));
        let event = Event::Cooled {
            origin: self.redis.replica().to_string(),
            cred: cred.to_string(),
            model: model.to_string(),
            until_ms,
            quota,
        };
        self.send(event, key(cred, model), Some(wait));
    }

    fn cleared(&self, cred: &str, model: &str) {
        let event = Event::Cleared {
            origin: self.redis.replica().to_string(),
            cred: cred.to_string(),
            model: model.to_string(),
        };
        self.send(event, key(cred, model), None);
    }
}

/// Reads every live cool-down key and applies it (after subscribing, and
/// after Redis comes back), so a replica that missed messages converges.
pub async fn catch_up(app: &App, redis: &Redis) {
    let pattern = format!("{PREFIX}cooldown:*");
    let mut cursor: u64 = 0;
    let mut seen = 0usize;
    loop {
        let page: Option<(u64, Vec<String>)> = redis
            .call(|mut c| {
                let pattern = pattern.clone();
                async move {
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(pattern)
                        .arg("COUNT")
                        .arg(500)
                        .query_async(&mut c)
                        .await
                }
            })
            .await;
        let Some((next, keys)) = page else { return };
        if !keys.is_empty() {
            let values: Option<Vec<Option<String>>> = redis
                .call(
                    |mut c| async move { redis::cmd("MGET").arg(&keys).query_async(&mut c).await },
                )
                .await;
            for text in values.unwrap_or_default().into_iter().flatten() {
                if let Ok(event) = serde_json::from_str::<Event>(&text) {
                    events::apply(app, &event);
                    seen += 1;
                }
            }
        }
        if next == 0 || seen >= CATCH_UP_MAX {
            return;
        }
        cursor = next;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::proxy::cooldown::Cooldowns;

    #[derive(Default)]
    struct Seen(Mutex<Vec<String>>);

    impl CooldownSink for Seen {
        fn cooled(&self, cred: &str, model: &str, wait: Duration, quota: bool) {
            let mut v = self.0.lock().expect("lock");
            v.push(format!("cooled {cred} {model} {} {quota}", wait.as_secs()));
        }
        fn cleared(&self, cred: &str, model: &str) {
            self.0
                .lock()
                .expect("lock")
                .push(format!("cleared {cred} {model}"));
        }
    }

    #[test]
    fn local_changes_reach_the_sink_and_remote_ones_do_not() {
        let c = Cooldowns::default();
        let seen = Arc::new(Seen::default());
        c.set_sink(seen.clone());
        c.on_success("a", "m"); // nothing was cooling: no message
        c.on_status("a", "m", 429, Some(Duration::from_secs(60)), false);
        c.on_success("a", "m");
        c.apply_remote("b", "m", Duration::from_secs(30), true);
        c.clear_remote("b", "m");
        assert_eq!(
            *seen.0.lock().expect("lock"),
            vec!["cooled a m 60 true".to_string(), "cleared a m".to_string()]
        );
    }

    #[test]
    fn a_remote_cool_down_blocks_and_never_shortens_a_local_one() {
        let c = Cooldowns::default();
        let now = tokio::time::Instant::now();
        c.apply_remote("b", "m", Duration::from_secs(30), true);
        let b = c
            .blocked("b", "m", now)
            .expect("blocked by the remote event");
        assert!(b.quota);
        c.on_status("a", "m", 500, None, false); // 1 min
        c.apply_remote("a", "m", Duration::from_secs(5), false);
        let a = c.blocked("a", "m", now).expect("blocked");
        assert!(a.until >= now + Duration::from_secs(50));
        c.clear_remote("b", "m");
        assert!(c.blocked("b", "m", now).is_none());
    }

    #[test]
    fn events_keep_their_wire_shape() {
        let e = Event::Cooled {
            origin: "r1".into(),
            cred: "c".into(),
            model: "m".into(),
            until_ms: 5,
            quota: true,
        };
        let text = serde_json::to_string(&e).expect("json");
        assert_eq!(
            text,
            r#"{"kind":"cooled","origin":"r1","cred":"c","model":"m","until_ms":5,"quota":true}"#
        );
        assert_eq!(serde_json::from_str::<Event>(&text).expect("back"), e);
        assert_ne!(key("c", "m"), key("c", "m2"));
        assert!(key("c", "m").starts_with("cliproxy:cooldown:"));
    }
}
